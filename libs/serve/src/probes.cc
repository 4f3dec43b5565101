#include "botsec/serve/probes.h"

#include <utility>

#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

namespace botsec::serve {
namespace {

Response MethodNotAllowed(const Request& request) {
  return {405, "text/plain; charset=utf-8", request.method + " is not allowed here; use GET\n"};
}

bool Verbose(const std::string& query) {
  std::size_t at = 0;
  while (at <= query.size()) {
    std::size_t end = query.find('&', at);
    std::string_view part = std::string_view(query).substr(at, end - at);
    if (part == "verbose" || part.starts_with("verbose=")) {
      return true;
    }
    if (end == std::string::npos) {
      break;
    }
    at = end + 1;
  }
  return false;
}

}  // namespace

Handler HealthHandler(std::string endpoint, std::vector<HealthCheck> checks) {
  return [endpoint = std::move(endpoint), checks = std::move(checks)](const Request& request) {
    if (request.method != "GET" && request.method != "HEAD") {
      return MethodNotAllowed(request);
    }
    std::string report;
    bool healthy = true;
    for (const HealthCheck& check : checks) {
      auto outcome = check.check();
      if (outcome) {
        report += "[+]" + check.name + " ok\n";
      } else {
        healthy = false;
        report += "[-]" + check.name + " failed: " + outcome.error().message + "\n";
      }
    }
    if (healthy && !Verbose(request.query)) {
      return Response{200, "text/plain; charset=utf-8", "ok"};
    }
    report += healthy ? endpoint + " check passed\n" : endpoint + " check failed\n";
    return Response{healthy ? 200 : 500, "text/plain; charset=utf-8", report};
  };
}

Handler MetricsHandler(std::shared_ptr<prometheus::Registry> registry) {
  return [registry = std::move(registry)](const Request& request) {
    if (request.method != "GET" && request.method != "HEAD") {
      return MethodNotAllowed(request);
    }
    prometheus::TextSerializer serializer;
    return Response{200, "text/plain; version=0.0.4; charset=utf-8",
                    serializer.Serialize(registry->Collect())};
  };
}

}  // namespace botsec::serve
