#include "bot_checks.h"

#include <algorithm>
#include <cctype>
#include <string>
#include <string_view>
#include <vector>

#include "json_fields.h"

namespace botsec::policy::internal {
namespace {

bool IsDigest(std::string_view image) {
  std::size_t at = image.find("@sha256:");
  if (at == std::string_view::npos) {
    return false;
  }
  std::string_view hex = image.substr(at + 8);
  return hex.size() == 64 && std::all_of(hex.begin(), hex.end(), [](char c) {
           return std::isdigit(static_cast<unsigned char>(c)) != 0 || (c >= 'a' && c <= 'f');
         });
}

template <typename View>
class BotChecker {
 public:
  using Container = ContainerRef<View>;

  BotChecker(const PodTemplateRef<View>& ref, const std::vector<Container>& containers,
             const BotChecks& checks, std::vector<Violation>& out)
      : ref_(ref), checks_(checks), out_(out), pod_(ref.spec_path), containers_(containers) {}

  void Run() {
    if (checks_.read_only_root_filesystem) {
      ReadOnlyRootFilesystem();
    }
    if (!checks_.allow_service_account_token) {
      ServiceAccountToken();
    }
    Resources();
    RuntimeClass();
    Images();
  }

 private:
  void Add(std::string_view check, const FieldPath& field, std::string message) {
    if (out_.size() < kMaxViolations) {
      out_.push_back({std::string(check), field.str(), std::move(message)});
    }
  }

  void ReadOnlyRootFilesystem() {
    for (const Container& c : containers_) {
      View value = c.json.Get("securityContext").Get("readOnlyRootFilesystem");
      if (value.is_boolean() && value.boolean()) {
        continue;
      }
      FieldPath field = c.path.Key("securityContext").Key("readOnlyRootFilesystem");
      if (!value) {
        Add("readOnlyRootFilesystem", field,
            "Required value: must be true (write to an emptyDir volume instead)");
      } else {
        Add("readOnlyRootFilesystem", field, "Forbidden: must be true");
      }
    }
  }

  void ServiceAccountToken() {
    View automount = ref_.spec.Get("automountServiceAccountToken");
    FieldPath field = pod_.Key("automountServiceAccountToken");
    if (!automount) {
      Add("serviceAccountToken", field,
          "Required value: must be false: a bot gets no Kubernetes API token");
    } else if (!automount.is_boolean() || automount.boolean()) {
      Add("serviceAccountToken", field, "Forbidden: must be false: a bot gets no API token");
    }
    View volumes = ref_.spec.Get("volumes");
    volumes.ForEachItem([&](std::size_t i, View volume) {
      volume.Get("projected").Get("sources").ForEachItem([&](std::size_t j, View source) {
        if (source.Get("serviceAccountToken")) {
          Add("serviceAccountToken",
              pod_.Key("volumes")
                  .Index(i)
                  .Key("projected")
                  .Key("sources")
                  .Index(j)
                  .Key("serviceAccountToken"),
              "Forbidden: a bot gets no service account token");
        }
      });
    });
  }

  void Resources() {
    for (const Container& c : containers_) {
      if (c.kind == ContainerKind::kEphemeral) {
        continue;  // the API gives ephemeral containers no resources; the pod's limits bound them
      }
      View limits = c.json.Get("resources").Get("limits");
      FieldPath path = c.path.Key("resources").Key("limits");
      if (checks_.require_limits) {
        for (std::string_view name : {"cpu", "memory"}) {
          if (!limits.Get(name)) {
            Add("resources", path.Key(name), "Required value: every container needs a limit");
          }
        }
      }
      for (const auto& [name, bound] : checks_.max_limits) {
        View limit = limits.Get(name);
        if (!limit) {
          continue;
        }
        std::string text = limit.is_string() ? std::string(limit.string()) : limit.Dump();
        auto quantity = Quantity::Parse(text);
        if (!quantity) {
          Add("resources", path.Key(name), quantity.error().message);
        } else if (quantity->value > bound.value * (1 + 1e-12)) {
          Add("resources", path.Key(name),
              "Invalid value: \"" + text + "\": must be at most \"" + bound.text + "\"");
        }
      }
    }
  }

  void RuntimeClass() {
    if (checks_.runtime_classes.empty()) {
      return;
    }
    std::string supported;
    for (const std::string& name : checks_.runtime_classes) {
      supported += (supported.empty() ? "\"" : ", \"") + name + "\"";
    }
    View name = ref_.spec.Get("runtimeClassName");
    FieldPath field = pod_.Key("runtimeClassName");
    if (!name) {
      Add("runtimeClass", field, "Required value: supported values: " + supported);
    } else if (!name.is_string() ||
               std::find(checks_.runtime_classes.begin(), checks_.runtime_classes.end(),
                         name.string()) == checks_.runtime_classes.end()) {
      Add("runtimeClass", field,
          "Unsupported value: " + name.Dump() + ": supported values: " + supported);
    }
  }

  void Images() {
    for (const Container& c : containers_) {
      View image = c.json.Get("image");
      std::string text(StringOf(image));
      FieldPath field = c.path.Key("image");
      if (!checks_.registries.empty()) {
        std::string normal = NormalizeImage(text);
        bool allowed = std::any_of(
            checks_.registries.begin(), checks_.registries.end(), [&](const std::string& prefix) {
              return text.rfind(prefix, 0) == 0 || normal.rfind(prefix, 0) == 0;
            });
        if (!allowed) {
          Add("imageRegistry", field,
              "Forbidden: \"" + text + "\" is not from an allowed registry");
        }
      }
      if (checks_.require_digest && !IsDigest(text)) {
        Add("imageDigest", field,
            "Invalid value: \"" + text + "\": must be pinned by digest (@sha256:<64 hex>)");
      }
    }
  }

  const PodTemplateRef<View>& ref_;
  const BotChecks& checks_;
  std::vector<Violation>& out_;
  FieldPath pod_;  // spec
  const std::vector<Container>& containers_;
};

}  // namespace

std::string NormalizeImage(std::string_view image) {
  std::size_t slash = image.find('/');
  std::string_view first = slash == std::string_view::npos ? "" : image.substr(0, slash);
  bool has_registry =
      !first.empty() && (first.find('.') != std::string_view::npos ||
                         first.find(':') != std::string_view::npos || first == "localhost");
  if (has_registry) {
    return std::string(image);
  }
  if (slash == std::string_view::npos) {
    return "docker.io/library/" + std::string(image);
  }
  return "docker.io/" + std::string(image);
}

template <typename View>
void CheckBot(const PodTemplateRef<View>& ref, const std::vector<ContainerRef<View>>& containers,
              const BotChecks& checks, std::vector<Violation>& out) {
  BotChecker<View> checker(ref, containers, checks, out);
  checker.Run();
}

template void CheckBot<NlohmannView>(const PodTemplateRef<NlohmannView>&,
                                     const std::vector<ContainerRef<NlohmannView>>&,
                                     const BotChecks&, std::vector<Violation>&);
template void CheckBot<DomView>(const PodTemplateRef<DomView>&,
                                const std::vector<ContainerRef<DomView>>&, const BotChecks&,
                                std::vector<Violation>&);

}  // namespace botsec::policy::internal
