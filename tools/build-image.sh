#!/usr/bin/env bash
# Builds BotSec's image without a Docker engine: a root filesystem of Debian packages holding only
# the runtime libraries the binaries link (mmdebstrap, extract variant: no shell, no package
# manager), the three binaries stripped, a non-root user (65532), written as an OCI image archive
# by umoci. Then it checks its own work: unpacks the archive afresh and runs each binary's
# --version inside it (chroot, as user 65532). Needs root (chroot) and Debian's mirror.
#   tools/build-image.sh BIN_DIR OUT_DIR
# Writes OUT_DIR/botsec-<version>.oci.tar, tagged <version> (the chart's appVersion), and prints
# its size.
set -euo pipefail
bin=${1:?usage: build-image.sh BIN_DIR OUT_DIR}
out=${2:?usage: build-image.sh BIN_DIR OUT_DIR}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
version=$("$here/app-version.sh")
suite=bookworm
mirror=${BOTSEC_DEBIAN_MIRROR:-http://deb.debian.org/debian}
uid=65532

log() { printf '[image %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
fail() { log "error: $*"; exit 1; }

for tool in mmdebstrap umoci chroot; do
  command -v "$tool" >/dev/null || fail "$tool is not installed (make deps installs it)"
done
[[ "$(id -u)" == 0 ]] || fail "needs root: mmdebstrap's root mode and chroot"
for b in botsec-operator botsec-webhook botsec; do
  [[ -x "$bin/$b" ]] || fail "$bin/$b is missing (make build)"
done

# The Debian packages holding the shared libraries the binaries link, found from this machine's
# own (the one the binaries were built against).
packages=$(for f in $(ldd "$bin"/botsec-operator "$bin"/botsec-webhook "$bin"/botsec |
  awk '$3 ~ /^\// {print $3}' | sort -u); do
  p=$(dpkg -S "$f" 2>/dev/null || dpkg -S "/usr$f" 2>/dev/null) || fail "no package holds $f"
  echo "${p%%:*}"
done | sort -u | paste -sd, -)

work=$(mktemp -d "${TMPDIR:-/tmp}/botsec-image.XXXXXX")
trap 'rm -rf "$work"' EXIT
log "step 1/4: root filesystem from Debian $suite: $packages"
mmdebstrap --quiet --variant=extract --mode=root --include="$packages" "$suite" "$work/rootfs" \
  "$mirror" >"$work/mmdebstrap.log" 2>&1 || { cat "$work/mmdebstrap.log" >&2; fail "mmdebstrap failed"; }
rootfs=$work/rootfs
rm -rf "$rootfs"/usr/share/{doc,man,info,lintian,locale} "$rootfs"/var/cache/* "$rootfs"/var/lib/apt
mkdir -p "$rootfs/usr/bin" "$rootfs/etc" "$rootfs/tmp"
chmod 1777 "$rootfs/tmp"
for b in botsec-operator botsec-webhook botsec; do
  install -m 0755 "$bin/$b" "$rootfs/usr/bin/$b"
  strip --strip-unneeded "$rootfs/usr/bin/$b"
done
printf 'root:x:0:0:root:/root:/usr/sbin/nologin\nbotsec:x:%d:%d:botsec:/nonexistent:/usr/sbin/nologin\n' \
  "$uid" "$uid" >"$rootfs/etc/passwd"
printf 'root:x:0:\nbotsec:x:%d:\n' "$uid" >"$rootfs/etc/group"

log "step 2/4: OCI image (umoci), user $uid, tag $version"
layout=$work/oci
umoci init --layout "$layout"
umoci new --image "$layout:$version"
umoci unpack --image "$layout:$version" "$work/bundle" >/dev/null
cp -a "$rootfs/." "$work/bundle/rootfs/"
umoci repack --image "$layout:$version" "$work/bundle"
umoci config --image "$layout:$version" --config.user "$uid:$uid" \
  --config.entrypoint /usr/bin/botsec-operator --config.workingdir / \
  --config.label "org.opencontainers.image.title=botsec" \
  --config.label "org.opencontainers.image.version=$version" \
  --config.label "org.opencontainers.image.source=charts/botsec"
umoci gc --layout "$layout"
mkdir -p "$out"
archive=$out/botsec-$version.oci.tar
# Written beside its final name and moved there only once it has passed the checks below, so that
# a failed check leaves no archive behind under the tag.
staged=$work/botsec-$version.oci.tar
tar -C "$layout" -cf "$staged" .

log "step 3/4: unpacking the archive afresh"
check=$work/check
mkdir -p "$check/layout"
tar -C "$check/layout" -xf "$staged"
umoci unpack --image "$check/layout:$version" "$check/bundle" >/dev/null
log "step 4/4: each binary's --version inside it, as user $uid"
for b in botsec-operator botsec-webhook botsec; do
  said=$(chroot --userspec="$uid:$uid" "$check/bundle/rootfs" "/usr/bin/$b" --version) ||
    fail "$b --version failed inside the image"
  [[ " $said " == *" $version "* ]] ||
    fail "$b says \"$said\": not version $version, the image's tag (CMakeLists.txt and Chart.yaml disagree)"
  log "  $said"
done
uid_inside=$(grep -o '"uid": *[0-9]*' "$check/bundle/config.json" | head -1 | grep -o '[0-9]*$')
[[ "$uid_inside" == "$uid" ]] || fail "the image runs as uid ${uid_inside:-?}, not $uid"
mv "$staged" "$archive.tmp" && mv "$archive.tmp" "$archive"
layers=$(find "$check/layout/blobs" -type f -size +100k -printf '%s\n' | awk '{s += $1} END {print s}')
log "image: $archive: $(du -h "$archive" | cut -f1) as an archive, compressed layer $((layers / 1024)) KiB, root filesystem $(du -sh "$check/bundle/rootfs" | cut -f1), runs as uid $uid_inside"
echo "$archive"
