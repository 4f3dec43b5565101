// What identifies one version of a file, to notice that it changed without reading it: a rewrite
// or a symlink swap (how the kubelet updates a mounted Secret or ConfigMap) changes at least one
// of device, inode, size and modification time.
#ifndef BOTSEC_CORE_FILE_STAMP_H_
#define BOTSEC_CORE_FILE_STAMP_H_

#include <cstdint>
#include <string>
#include <sys/types.h>

namespace botsec::core {

struct FileStamp {
  dev_t device = 0;
  ino_t inode = 0;
  off_t size = -1;  // -1: the file could not be looked at
  std::int64_t mtime_ns = 0;
  bool operator==(const FileStamp&) const = default;
};

// The stamp of `path`, following symbolic links; FileStamp{} when it cannot be looked at.
FileStamp StampOf(const std::string& path);

}  // namespace botsec::core

#endif  // BOTSEC_CORE_FILE_STAMP_H_
