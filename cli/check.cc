#include "check.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "botsec/core/flags.h"

namespace botsec::cli {
namespace {

namespace fs = std::filesystem;
using policy::Json;

std::string StringAt(const Json& object, const char* pointer) {
  const Json::json_pointer path(pointer);
  return object.contains(path) && object[path].is_string() ? object[path].get<std::string>() : "";
}

constexpr std::string_view kSummary =
    "Judges Kubernetes manifests with BotSec's isolation policy, offline, as the webhook judges "
    "pods in a bot namespace.";

constexpr std::string_view kExamples = R"(
Every Pod and pod template (Deployment, ReplicaSet, StatefulSet, DaemonSet, Job, CronJob,
ReplicationController, PodTemplate) is judged as a bot pod; other kinds are skipped. Input is
JSON or YAML (several documents, List objects, anchors and merge keys); a directory is read
recursively (*.yaml, *.yml, *.json); - reads standard input.

Each violation prints as
  file:document kind/name: field.path: reason

Exit status: 0 all pass, 1 a violation, 2 input or policy that cannot be read.

Examples:
  botsec check deploy/                          # the bot profile, default settings
  botsec check --profile pss-restricted pod.yaml
  botsec check --policy policy.yaml -o json manifests/*.yaml
  helm template charts/app | botsec check -
)";

// The files an argument names: itself, or the manifests under a directory, sorted.
std::vector<std::string> Expand(const std::string& arg, std::vector<std::string>& errors) {
  std::error_code ec;
  if (arg == "-" || !fs::is_directory(arg, ec)) {
    return {arg};
  }
  std::vector<std::string> files;
  for (auto it = fs::recursive_directory_iterator(arg, ec); !ec && it != fs::end(it);
       it.increment(ec)) {
    std::string ext = it->path().extension().string();
    if (it->is_regular_file() && (ext == ".yaml" || ext == ".yml" || ext == ".json")) {
      files.push_back(it->path().string());
    }
  }
  if (ec) {
    errors.push_back(arg + ": " + ec.message());
  }
  std::sort(files.begin(), files.end());
  return files;
}

bool ReadAll(const std::string& source, std::istream& in, std::string& text, std::string& error) {
  std::stringstream buffer;
  if (source == "-") {
    buffer << in.rdbuf();
  } else {
    std::ifstream file(source, std::ios::binary);
    if (!file) {
      error =
          source + ": cannot read: " + std::error_code(errno, std::generic_category()).message();
      return false;
    }
    buffer << file.rdbuf();
  }
  text = buffer.str();
  return true;
}

}  // namespace

std::vector<Finding> JudgeManifests(const std::vector<policy::Manifest>& manifests,
                                    const std::string& source, const policy::Policy& policy) {
  std::vector<Finding> findings;
  for (const policy::Manifest& manifest : manifests) {
    if (!policy::IsPodCarrier(manifest.object)) {
      continue;
    }
    Finding finding{.source = source,
                    .document = manifest.document,
                    .item = manifest.item,
                    .kind = StringAt(manifest.object, "/kind"),
                    .name = StringAt(manifest.object, "/metadata/name"),
                    .violations = {}};
    auto judged = policy::Judge(manifest.object, policy);
    if (judged) {
      finding.violations = *std::move(judged);
    } else {
      // A pod carrier without its pod spec: say so as a violation at the missing field.
      std::string message = judged.error().message;
      std::size_t colon = message.find(": ");
      finding.violations.push_back(
          {"podSpec", message.substr(0, colon),
           colon == std::string::npos ? message : message.substr(colon + 2)});
    }
    findings.push_back(std::move(finding));
  }
  return findings;
}

std::string FormatText(const std::vector<Finding>& findings) {
  std::string out;
  for (const Finding& f : findings) {
    std::string where = f.source + ":" + std::to_string(f.document) +
                        (f.item >= 0 ? "[" + std::to_string(f.item) + "]" : "") + " " + f.kind +
                        "/" + (f.name.empty() ? "<unnamed>" : f.name);
    for (const policy::Violation& v : f.violations) {
      out += where + ": " + v.field + ": " + v.message + " (" + v.check + ")\n";
    }
  }
  return out;
}

std::string FormatJson(const std::vector<Finding>& findings) {
  Json results = Json::array();
  for (const Finding& f : findings) {
    Json violations = Json::array();
    for (const policy::Violation& v : f.violations) {
      violations.push_back({{"check", v.check}, {"field", v.field}, {"message", v.message}});
    }
    Json result = {
        {"source", f.source}, {"document", f.document},        {"kind", f.kind},
        {"name", f.name},     {"allowed", violations.empty()}, {"violations", violations}};
    if (f.item >= 0) {
      result["item"] = f.item;
    }
    results.push_back(std::move(result));
  }
  // Names and messages may carry bytes that are not UTF-8 (they come from the input).
  return Json{{"results", results}}.dump(2, ' ', false, Json::error_handler_t::replace) + "\n";
}

int RunCheck(const std::vector<std::string>& args, std::istream& in, std::ostream& out,
             std::ostream& err) {
  core::FlagSet flags("botsec check", std::string(kSummary) + "\n" + std::string(kExamples),
                      "[--policy FILE] [--profile NAME] [-o text|json] FILE|DIR|- ...");
  flags.String("policy", "FILE", "", "the policy document (default: the bot profile's defaults)")
      .String("profile", "NAME", "", "pss-baseline, pss-restricted or bot (overrides the policy's)")
      .String("output", "FORMAT", "text", "text or json")
      .Shorthand('o', "output");
  std::vector<std::string_view> views(args.begin(), args.end());
  auto parsed = flags.Parse(views);
  if (!parsed) {
    err << "botsec check: " << parsed.error().message << "\n";
    return kExitBadInput;
  }
  if (parsed->Bool("help")) {
    out << flags.Usage();
    return kExitPass;
  }
  std::string format(parsed->Get("output"));
  if (format != "text" && format != "json") {
    err << "botsec check: --output: Unsupported value: \"" << format
        << "\": supported values: \"text\", \"json\"\n";
    return kExitBadInput;
  }
  if (parsed->positional().empty()) {
    err << "botsec check: no input: name files, directories, or - for standard input\n";
    return kExitBadInput;
  }
  policy::Policy policy = policy::Policy::Default();
  if (std::string file(parsed->Get("policy")); !file.empty()) {
    std::string text;
    std::string error;
    if (!ReadAll(file, in, text, error)) {
      err << "botsec check: --policy " << error << "\n";
      return kExitBadInput;
    }
    auto loaded = policy::ParsePolicy(text);
    if (!loaded) {
      err << "botsec check: --policy " << file << ": " << loaded.error().message << "\n";
      return kExitBadInput;
    }
    policy = *std::move(loaded);
  }
  if (std::string name(parsed->Get("profile")); !name.empty()) {
    auto profile = policy::ParseProfile(name);
    if (!profile) {
      err << "botsec check: --" << profile.error().message << "\n";
      return kExitBadInput;
    }
    policy.profile = *profile;
  }

  std::vector<std::string> errors;
  std::vector<Finding> findings;
  for (const std::string& arg : parsed->positional()) {
    for (const std::string& source : Expand(arg, errors)) {
      std::string text;
      std::string error;
      if (!ReadAll(source, in, text, error)) {
        errors.push_back(error);
        continue;
      }
      auto manifests = policy::ReadManifests(text);
      if (!manifests) {
        errors.push_back(source + ": " + manifests.error().message);
        continue;
      }
      std::vector<Finding> judged = JudgeManifests(*manifests, source, policy);
      std::move(judged.begin(), judged.end(), std::back_inserter(findings));
    }
  }
  out << (format == "json" ? FormatJson(findings) : FormatText(findings));
  for (const std::string& error : errors) {
    err << "botsec check: " << error << "\n";
  }
  std::size_t violating = std::count_if(findings.begin(), findings.end(),
                                        [](const Finding& f) { return !f.violations.empty(); });
  if (format == "text") {
    err << findings.size() << " judged under " << policy::ProfileName(policy.profile) << ": "
        << findings.size() - violating << " pass, " << violating << " violate\n";
  }
  if (!errors.empty()) {
    return kExitBadInput;
  }
  return violating > 0 ? kExitViolations : kExitPass;
}

}  // namespace botsec::cli
