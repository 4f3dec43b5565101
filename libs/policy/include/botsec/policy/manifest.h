// Kubernetes manifests as `kubectl apply -f` reads them: JSON, or YAML streams of one or more
// documents (YAML 1.1 scalars, anchors, merge keys), with `List` objects (kind List or any
// *List with items) expanded into their items.
#ifndef BOTSEC_POLICY_MANIFEST_H_
#define BOTSEC_POLICY_MANIFEST_H_

#include <string>
#include <string_view>
#include <vector>

#include "botsec/core/result.h"
#include "botsec/policy/yaml.h"

namespace botsec::policy {

struct Manifest {
  Json object;
  int document = 1;  // 1-based, in the stream
  int item = -1;     // index in a List's items, or -1
  int line = 1;      // where the document starts
};

// Every object in `text`. Errors (kInvalidArgument) say where: "line 4, column 3: ..." or, for
// JSON, "byte 17: ...". A document that is not an object, or a List whose items is not a list,
// is an error too.
core::Result<std::vector<Manifest>> ReadManifests(std::string_view text);

}  // namespace botsec::policy

#endif  // BOTSEC_POLICY_MANIFEST_H_
