#include "bot/runbook_config.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <climits>
#include <filesystem>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>

#include "bot/config_checker.h"
#include "commands/command_table.h"
#include "commands/tokenizer.h"
#include "common/strings.h"
#include "runbooks/shipped.h"

namespace shipmate::bot {
namespace fs = std::filesystem;
using runbooks::Definition;
using runbooks::ParamSpec;
using runbooks::ParamType;
using runbooks::StepKind;
using runbooks::StepSpec;

namespace {

const std::regex kRunbookName("^[a-z0-9][a-z0-9_.-]{0,63}$");
const std::regex kParamName("^[a-z][a-z0-9_]{0,31}$");
const std::regex kEnvVarName("^[A-Za-z_][A-Za-z0-9_]*$");

const std::vector<std::string> kStepKinds = {"exec",    "http", "command",
                                             "confirm", "wait", "notify"};
const std::vector<std::string> kStepCommonKeys = {"name",    "safety",     "timeout", "retries",
                                                  "backoff", "on_failure", "check"};

// Where a template sits decides whether a secret may appear in it.
enum class Place { argv, url, header, body, env, command, chat, query, cwd };

bool secrets_allowed(Place place) {
  return place == Place::header || place == Place::body || place == Place::env;
}

const char* place_name(Place place) {
  switch (place) {
    case Place::argv:
      return "an argv element";
    case Place::url:
      return "a URL";
    case Place::header:
      return "a header";
    case Place::body:
      return "a body";
    case Place::env:
      return "the environment";
    case Place::command:
      return "a command";
    case Place::chat:
      return "a chat message";
    case Place::query:
      return "a query";
    case Place::cwd:
      return "a working directory";
  }
  return "a template";
}

struct RunbookParse {
  Checker& check;
  Config& config;
  Definition& definition;
  // Step names whose outputs later templates may use.
  std::set<std::string> earlier_steps = {};
  bool in_cleanup = false;
};

std::vector<std::string> environment_names(const Config& config) {
  std::vector<std::string> names;
  for (const auto& env : config.catalog.environments)
    names.push_back(env.name);
  return names;
}

// Checks every placeholder of `text` at `at`.
void check_template(RunbookParse& p, const YAML::Node& at, const std::string& text, Place place) {
  auto names = runbooks::placeholders(text);
  if (!names) {
    p.check.error(at, names.error().message);
    return;
  }
  std::vector<std::string> param_names;
  for (const auto& param : p.definition.params)
    param_names.push_back(param.name);
  for (const auto& name : *names) {
    if (name == "run.id" || name == "run.by")
      continue;
    if (name == "service.url") {
      if (!p.definition.environment_param()) {
        p.check.error(at, "{service.url} needs a parameter of type environment to choose by");
      } else if (p.definition.service.empty()) {
        p.check.error(at, "{service.url} needs the runbook's service: (whose address it is)");
      } else if (p.definition.service_urls.empty()) {
        p.check.error(at, "{service.url}: service " + p.definition.service +
                              " has no address Shipmate knows (only a local target has one); "
                              "give the address under vars: instead");
      }
      continue;
    }
    if (name.rfind("vars.", 0) == 0) {
      const std::string key = name.substr(5);
      if (!p.definition.environment_param()) {
        p.check.error(at, "{" + name + "} needs a parameter of type environment to choose vars by");
        continue;
      }
      if (p.definition.vars.empty()) {
        p.check.error(at, "{" + name + "} names a var, but the runbook has no vars:");
        continue;
      }
      for (const auto& [env, values] : p.definition.vars) {
        if (!values.count(key)) {
          p.check.error(at,
                        "{" + name + "} is not defined for environment '" + env + "' under vars:");
        }
      }
      continue;
    }
    if (name.rfind("steps.", 0) == 0) {
      const auto dot = name.find('.', 6);
      const std::string step =
          name.substr(6, dot == std::string::npos ? std::string::npos : dot - 6);
      if (dot == std::string::npos || dot + 1 == name.size()) {
        p.check.error(at, "{" + name + "} needs an output name: {steps.<step>.<output>}");
      } else if (!p.earlier_steps.count(step)) {
        std::vector<std::string> earlier(p.earlier_steps.begin(), p.earlier_steps.end());
        p.check.error(at, "{" + name + "} refers to '" + step + "', which is not an earlier step" +
                              commands::did_you_mean(step, earlier));
      }
      continue;
    }
    const ParamSpec* param = p.definition.find_param(name);
    if (!param) {
      p.check.error(at, "unknown placeholder {" + name + "}" +
                            commands::did_you_mean(name, param_names) +
                            "; parameters are written {name}, and also {vars.key}, "
                            "{service.url}, {steps.step.output}, {run.id}, {run.by}");
      continue;
    }
    if (param->type == ParamType::secret && !secrets_allowed(place)) {
      p.check.error(at, "secret parameter {" + name + "} may not appear in " + place_name(place) +
                            "; pass it through exec env:/files: or an http header or body");
    }
  }
}

std::string scalar_or(Checker& check, const YAML::Node& node, const std::string& what) {
  return check.scalar(node, what).value_or("");
}

std::vector<int> int_list(Checker& check, const YAML::Node& node, const std::string& what, int low,
                          int high) {
  std::vector<int> out;
  if (node.IsScalar()) {
    if (auto value = check.integer(node, what, low, high))
      out.push_back(static_cast<int>(*value));
    return out;
  }
  if (!check.expect_sequence(node, what))
    return out;
  for (const auto& item : node) {
    if (auto value = check.integer(item, what, low, high))
      out.push_back(static_cast<int>(*value));
  }
  return out;
}

std::map<std::string, std::string> template_map(RunbookParse& p, const YAML::Node& node,
                                                const std::string& what, Place place,
                                                bool env_names) {
  auto values = string_map(p.check, node, what);
  for (const auto& [key, value] : values) {
    if (env_names && !std::regex_match(key, kEnvVarName))
      p.check.error(node[key], "'" + key + "' is not an environment variable name");
    check_template(p, node[key], value, place);
  }
  return values;
}

void parse_exec(RunbookParse& p, const YAML::Node& node, runbooks::ExecSpec& exec) {
  // Not `argv = node["argv"]` later: assigning to a YAML::Node writes through to the document.
  const YAML::Node argv = node.IsMap() ? node["argv"] : node;
  if (node.IsMap()) {
    p.check.check_keys(node, {"argv", "cwd", "env", "files", "expect_exit"}, "an exec step");
    if (!argv) {
      p.check.error(node, "an exec step needs argv: [program, arg, ...] (never a shell line)");
      return;
    }
    if (node["cwd"]) {
      exec.cwd = scalar_or(p.check, node["cwd"], "cwd");
      check_template(p, node["cwd"], exec.cwd, Place::cwd);
    }
    if (node["env"])
      exec.env = template_map(p, node["env"], "env", Place::env, true);
    if (node["files"])
      exec.files = template_map(p, node["files"], "files", Place::env, true);
    if (node["expect_exit"])
      exec.expect_exit = int_list(p.check, node["expect_exit"], "expect_exit", 0, 255);
  }
  if (argv.IsScalar()) {
    p.check.error(argv,
                  "exec takes a list ([program, arg, ...]), not a command line: no shell "
                  "ever runs, so quoting and pipes would not mean what they seem");
    return;
  }
  exec.argv = p.check.string_list(argv, "argv");
  if (exec.argv.empty()) {
    p.check.error(argv, "argv is empty: name the program to run");
    return;
  }
  for (std::size_t i = 0; i < exec.argv.size(); ++i)
    check_template(p, argv[i], exec.argv[i], Place::argv);
  if (exec.argv[0].find('{') != std::string::npos) {
    p.check.error(argv[0], "the program to run must be written out, not a placeholder ('" +
                               exec.argv[0] + "'): chat never chooses what runs");
  }
  if (exec.argv[0] == "sh" || exec.argv[0] == "bash" || exec.argv[0] == "/bin/sh" ||
      exec.argv[0] == "/bin/bash") {
    for (std::size_t i = 1; i < exec.argv.size(); ++i) {
      if (exec.argv[i].find('{') != std::string::npos) {
        p.check.error(argv[i],
                      "a placeholder in a shell's arguments would let chat text reach a "
                      "shell; pass values through env: and quote \"$VAR\" in the script");
      }
    }
  }
}

void parse_http(RunbookParse& p, const YAML::Node& node, runbooks::HttpSpec& http,
                const std::string& what) {
  if (node.IsScalar()) {
    http.url = node.Scalar();
    check_template(p, node, http.url, Place::url);
    return;
  }
  if (!p.check.expect_map(node, what))
    return;
  p.check.check_keys(node, {"method", "url", "headers", "body", "expect_status", "capture"}, what);
  if (node["method"]) {
    http.method = to_lower(scalar_or(p.check, node["method"], "method"));
    for (auto& c : http.method)
      c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    static const std::vector<std::string> kMethods = {"GET",   "POST",   "PUT",
                                                      "PATCH", "DELETE", "HEAD"};
    if (std::find(kMethods.begin(), kMethods.end(), http.method) == kMethods.end()) {
      p.check.error(node["method"], "method '" + http.method + "' is not one of " +
                                        join(kMethods, ", ") +
                                        commands::did_you_mean(http.method, kMethods));
    }
  }
  http.url = required(p.check, node, "url", what, "url: http://127.0.0.1:8081/health");
  if (!http.url.empty()) {
    check_template(p, node["url"], http.url, Place::url);
    if (http.url.rfind("http://", 0) != 0 && http.url.rfind("https://", 0) != 0 &&
        http.url.rfind("{", 0) != 0) {
      p.check.error(node["url"], "url must start with http:// or https://");
    }
  }
  if (node["headers"])
    http.headers = template_map(p, node["headers"], "headers", Place::header, false);
  if (node["body"]) {
    http.body = scalar_or(p.check, node["body"], "body");
    check_template(p, node["body"], http.body, Place::body);
  }
  if (node["expect_status"])
    http.expect_status = int_list(p.check, node["expect_status"], "expect_status", 100, 599);
  if (node["capture"]) {
    http.captures = string_map(p.check, node["capture"], "capture");
    for (const auto& [name, path] : http.captures) {
      if (!std::regex_match(name, kParamName))
        p.check.error(node["capture"][name], "capture name '" + name +
                                                 "' must be lowercase "
                                                 "letters, digits and _");
      if (path.empty())
        p.check.error(node["capture"][name], "capture '" + name + "' needs a JSON path");
    }
  }
}

void parse_wait(RunbookParse& p, const YAML::Node& node, StepSpec& step) {
  if (!p.check.expect_map(node, "a wait step"))
    return;
  p.check.check_keys(node, {"http", "expect_status", "prometheus", "min", "max", "interval"},
                     "a wait step");
  if (node["http"] && node["prometheus"]) {
    p.check.error(node, "a wait step polls http: or prometheus:, not both");
    return;
  }
  if (node["http"]) {
    step.wait.probe = runbooks::WaitSpec::Probe::http;
    step.wait.http.url = scalar_or(p.check, node["http"], "http");
    check_template(p, node["http"], step.wait.http.url, Place::url);
    if (node["expect_status"]) {
      step.wait.http.expect_status =
          int_list(p.check, node["expect_status"], "expect_status", 100, 599);
    }
  } else if (node["prometheus"]) {
    step.wait.probe = runbooks::WaitSpec::Probe::prometheus;
    step.wait.query = scalar_or(p.check, node["prometheus"], "prometheus");
    check_template(p, node["prometheus"], step.wait.query, Place::query);
    auto number = [&](const char* key) -> std::optional<double> {
      if (!node[key])
        return std::nullopt;
      try {
        return node[key].as<double>();
      } catch (const YAML::Exception&) {
        p.check.error(node[key], std::string(key) + " must be a number");
        return std::nullopt;
      }
    };
    step.wait.min = number("min");
    step.wait.max = number("max");
    if (!step.wait.min && !step.wait.max)
      p.check.error(node, "a prometheus wait needs min: or max: (when is it true?)");
    if (!p.config.metrics)
      p.check.error(node["prometheus"],
                    "a prometheus wait needs metrics: {prometheus: URL} in "
                    "the configuration");
  } else {
    p.check.error(node, "a wait step needs http: URL or prometheus: QUERY");
  }
  if (node["interval"]) {
    step.wait.interval_ms = p.check.duration(node["interval"], "interval").value_or(5000);
    if (step.wait.interval_ms < 100)
      p.check.error(node["interval"], "interval must be at least 100ms");
  }
}

void parse_step(RunbookParse& p, const YAML::Node& node, StepSpec& step) {
  if (!p.check.expect_map(node, "a step"))
    return;
  step.line = node.Mark().line + 1;
  std::vector<std::string> allowed = kStepCommonKeys;
  allowed.insert(allowed.end(), kStepKinds.begin(), kStepKinds.end());
  p.check.check_keys(node, allowed, "a step");
  std::vector<std::string> kinds;
  for (const auto& kind : kStepKinds) {
    if (node[kind])
      kinds.push_back(kind);
  }
  if (kinds.size() != 1) {
    p.check.error(node, kinds.empty() ? "a step needs one of: " + join(kStepKinds, ", ")
                                      : "a step has one kind, not " + join(kinds, " and "));
    return;
  }
  step.kind = *runbooks::parse_step_kind(kinds[0]);
  step.name = node["name"] ? scalar_or(p.check, node["name"], "name") : kinds[0];
  // Confirmations, waits and notifications can always be repeated; effects must say.
  step.safety = (step.kind == StepKind::confirm || step.kind == StepKind::wait ||
                 step.kind == StepKind::notify)
                    ? runbooks::Safety::idempotent
                    : runbooks::Safety::unsafe;
  if (node["safety"]) {
    const std::string safety = scalar_or(p.check, node["safety"], "safety");
    const std::vector<std::string> names = {"idempotent", "checkable", "unsafe"};
    if (safety == "idempotent")
      step.safety = runbooks::Safety::idempotent;
    else if (safety == "checkable")
      step.safety = runbooks::Safety::checkable;
    else if (safety == "unsafe")
      step.safety = runbooks::Safety::unsafe;
    else
      p.check.error(node["safety"], "safety '" + safety +
                                        "' is not one of idempotent, "
                                        "checkable, unsafe" +
                                        commands::did_you_mean(safety, names));
  }
  if (node["timeout"])
    step.timeout_ms = p.check.duration(node["timeout"], "timeout").value_or(step.timeout_ms);
  if (step.kind == StepKind::confirm && !node["timeout"])
    step.timeout_ms = 60LL * 60 * 1000;
  if (node["retries"])
    step.retries = static_cast<int>(p.check.integer(node["retries"], "retries", 0, 20).value_or(0));
  if (node["backoff"])
    step.backoff_ms = p.check.duration(node["backoff"], "backoff").value_or(1000);
  if (node["on_failure"]) {
    const std::string policy = scalar_or(p.check, node["on_failure"], "on_failure");
    const std::vector<std::string> names = {"stop", "continue", "cleanup"};
    if (policy == "stop")
      step.on_failure = runbooks::FailurePolicy::stop;
    else if (policy == "continue")
      step.on_failure = runbooks::FailurePolicy::continue_run;
    else if (policy == "cleanup")
      step.on_failure = runbooks::FailurePolicy::cleanup;
    else
      p.check.error(node["on_failure"], "on_failure '" + policy +
                                            "' is not one of stop, "
                                            "continue, cleanup" +
                                            commands::did_you_mean(policy, names));
  }
  const YAML::Node body = node[kinds[0]];
  switch (step.kind) {
    case StepKind::exec:
      parse_exec(p, body, step.exec);
      break;
    case StepKind::http:
      parse_http(p, body, step.http, "an http step");
      break;
    case StepKind::command: {
      step.command = scalar_or(p.check, body, "command");
      check_template(p, body, step.command, Place::command);
      const auto words = commands::leading_words(step.command);
      static const commands::CommandRegistry registry = commands::build_command_table();
      const std::string first(words.first);
      const std::string second(words.second);
      const auto lookup = registry.lookup(first, second);
      if (to_lower(first) == "runbook") {
        p.check.error(body, "a command step may not run a runbook (runs do not nest)");
      } else if (lookup.kind != commands::Lookup::Kind::command) {
        const auto suggestions = registry.suggest(first, second);
        p.check.error(body,
                      "'" + first + "' is not a Shipmate command" +
                          (suggestions.empty() ? std::string()
                                               : " (did you mean '" + suggestions[0] + "'?)"));
      }
      break;
    }
    case StepKind::confirm:
      if (body.IsScalar()) {
        step.prompt = body.Scalar();
      } else if (p.check.expect_map(body, "a confirm step")) {
        p.check.check_keys(body, {"prompt", "roles"}, "a confirm step");
        step.prompt = required(p.check, body, "prompt", "a confirm step", "prompt: Restart now?");
        if (body["roles"])
          step.confirm_roles = p.check.string_list(body["roles"], "roles");
      }
      check_template(p, body.IsMap() ? body["prompt"] : body, step.prompt, Place::chat);
      break;
    case StepKind::wait:
      parse_wait(p, body, step);
      break;
    case StepKind::notify:
      if (body.IsScalar()) {
        step.text = body.Scalar();
      } else if (p.check.expect_map(body, "a notify step")) {
        p.check.check_keys(body, {"text", "channel"}, "a notify step");
        step.text = required(p.check, body, "text", "a notify step", "text: done");
        if (body["channel"])
          step.channel = scalar_or(p.check, body["channel"], "channel");
      }
      check_template(p, body.IsMap() ? body["text"] : body, step.text, Place::chat);
      break;
  }
  if (node["check"]) {
    const YAML::Node check = node["check"];
    if (step.safety != runbooks::Safety::checkable) {
      p.check.error(check, "check: is only used by steps declared safety: checkable");
    } else if (p.check.expect_map(check, "check")) {
      p.check.check_keys(check, {"exec", "http"}, "a check");
      auto probe = std::make_shared<StepSpec>();
      probe->name = step.name + ".check";
      probe->safety = runbooks::Safety::idempotent;
      probe->timeout_ms = step.timeout_ms;
      if (check["exec"]) {
        probe->kind = StepKind::exec;
        parse_exec(p, check["exec"], probe->exec);
      } else if (check["http"]) {
        probe->kind = StepKind::http;
        parse_http(p, check["http"], probe->http, "a check");
      } else {
        p.check.error(check, "a check is exec: or http: (its success means the step happened)");
      }
      step.check = probe;
    }
  } else if (step.safety == runbooks::Safety::checkable) {
    p.check.error(node, "step '" + step.name +
                            "' is checkable but has no check: (exec: or http: "
                            "whose success means it already happened)");
  }
}

void parse_steps(RunbookParse& p, const YAML::Node& node, std::vector<StepSpec>& out,
                 const std::string& what) {
  if (!p.check.expect_sequence(node, what))
    return;
  for (const auto& item : node) {
    StepSpec step;
    parse_step(p, item, step);
    if (step.name.empty())
      continue;
    if (!std::regex_match(step.name, std::regex("^[a-z0-9][a-z0-9_-]{0,63}$")))
      p.check.error(item["name"] ? item["name"] : item,
                    "step name '" + step.name + "' may use lowercase letters, digits, - and _");
    if (p.definition.find_step(step.name) ||
        std::any_of(out.begin(), out.end(),
                    [&](const StepSpec& s) { return s.name == step.name; })) {
      p.check.error(item["name"] ? item["name"] : item,
                    "two steps are named '" + step.name + "'; give each its own name:");
    }
    if (!p.in_cleanup)
      p.earlier_steps.insert(step.name);
    out.push_back(std::move(step));
  }
}

void parse_param(RunbookParse& p, const YAML::Node& node) {
  if (!p.check.expect_map(node, "a parameter"))
    return;
  p.check.check_keys(
      node,
      {"name", "type", "description", "required", "default", "pattern", "min", "max", "choices"},
      "a parameter");
  ParamSpec param;
  param.name = required(p.check, node, "name", "a parameter", "name: env");
  if (param.name.empty())
    return;
  if (!std::regex_match(param.name, kParamName) || param.name == "vars" || param.name == "steps" ||
      param.name == "run") {
    p.check.error(node["name"], "parameter name '" + param.name +
                                    "' must be lowercase letters, digits and _ (and not vars, "
                                    "steps or run)");
  }
  if (p.definition.find_param(param.name))
    p.check.error(node["name"], "parameter '" + param.name + "' is declared twice");
  const std::string type = node["type"] ? scalar_or(p.check, node["type"], "type") : "string";
  if (auto parsed = runbooks::parse_param_type(type)) {
    param.type = *parsed;
  } else {
    p.check.error(node["type"], "parameter type '" + type + "' is not one of " +
                                    join(runbooks::param_type_names(), ", ") +
                                    commands::did_you_mean(type, runbooks::param_type_names()));
  }
  if (node["description"])
    param.description = scalar_or(p.check, node["description"], "description");
  if (node["required"])
    param.required = p.check.boolean(node["required"], "required").value_or(false);
  if (node["pattern"]) {
    param.pattern = scalar_or(p.check, node["pattern"], "pattern");
    try {
      std::regex test(param.pattern, std::regex::ECMAScript);
    } catch (const std::regex_error&) {
      p.check.error(node["pattern"], "pattern '" + param.pattern + "' is not a valid regex");
    }
    if (param.type != ParamType::string)
      p.check.error(node["pattern"], "pattern: applies to string parameters only");
  }
  if (node["min"])
    param.min = p.check.integer(node["min"], "min", LLONG_MIN / 2, LLONG_MAX / 2);
  if (node["max"])
    param.max = p.check.integer(node["max"], "max", LLONG_MIN / 2, LLONG_MAX / 2);
  if ((node["min"] || node["max"]) && param.type != ParamType::integer)
    p.check.error(node["min"] ? node["min"] : node["max"], "min:/max: apply to int parameters");
  if (node["choices"])
    param.choices = p.check.string_list(node["choices"], "choices");
  if (param.type == ParamType::enumeration && param.choices.empty())
    p.check.error(node, "parameter '" + param.name + "' is an enum: list its choices:");
  if (const auto def = node["default"]) {
    if (param.type == ParamType::secret) {
      if (!def.IsMap()) {
        p.check.error(def,
                      "a secret parameter's default is a reference: {env: VARIABLE}, "
                      "{file: /path} or {secret: name}; never a literal value");
      } else {
        p.check.check_keys(def, {"env", "file", "secret"}, "a secret's default");
        runbooks::SecretSource source;
        if (def["env"])
          source.env = scalar_or(p.check, def["env"], "env");
        if (def["file"]) {
          source.file = absolute_from(fs::path(p.config.path).parent_path(),
                                      scalar_or(p.check, def["file"], "file"));
        }
        if (def["secret"]) {
          source.secret = scalar_or(p.check, def["secret"], "secret");
          if (!p.config.secrets.count(source.secret))
            p.check.error(def["secret"],
                          "unknown secret '" + source.secret + "'; declare it under secrets:");
        }
        if (source.env.empty() + source.file.empty() + source.secret.empty() != 2)
          p.check.error(def, "a secret's default needs exactly one of env:, file:, secret:");
        else
          param.default_secret = source;
      }
    } else if (auto value = p.check.scalar(def, "default")) {
      runbooks::ParamContext context;
      context.environments = environment_names(p.config);
      for (const auto& service : p.config.catalog.services)
        context.services.push_back(service.name);
      auto checked = runbooks::check_parameter_value(param, *value, context);
      if (!checked)
        p.check.error(def, "default: " + checked.error().message);
      else
        param.default_value = *checked;
    }
  }
  p.definition.params.push_back(std::move(param));
}

}  // namespace

void parse_runbook(Checker& check, std::string_view text, const std::string& display_path,
                   Config& config) {
  YAML::Node root;
  try {
    root = YAML::Load(std::string(text));
  } catch (const YAML::Exception& e) {
    check.error_at(e.mark.line + 1, e.mark.column + 1, "YAML syntax: " + e.msg);
    return;
  }
  if (!root.IsMap()) {
    check.error_at(1, 1, "a runbook must be a mapping with runbook:, params: and steps:");
    return;
  }
  const std::size_t errors_before = check.error_count();
  check.check_keys(root,
                   {"runbook", "description", "service", "owners", "allow", "params", "vars",
                    "steps", "cleanup", "on_failure"},
                   "a runbook");
  Definition definition;
  definition.source = display_path;
  definition.hash = runbooks::content_hash(text);
  RunbookParse p{check, config, definition};
  definition.name = required(check, root, "runbook", "a runbook", "runbook: restart-api");
  if (!definition.name.empty() && !std::regex_match(definition.name, kRunbookName)) {
    check.error(root["runbook"], "runbook name '" + definition.name +
                                     "' may use lowercase letters, digits, '-', '_' and '.'");
  }
  if (root["description"])
    definition.description = scalar_or(check, root["description"], "description");
  if (root["service"]) {
    definition.service = scalar_or(check, root["service"], "service");
    std::vector<std::string> services;
    for (const auto& service : config.catalog.services)
      services.push_back(service.name);
    const auto* service = config.catalog.find_service(definition.service);
    if (!service) {
      check.error(root["service"], "service '" + definition.service + "' is not configured" +
                                       commands::did_you_mean(definition.service, services));
    } else if (service->target_kind == "local") {
      // {service.url}: the address its local target serves each environment at.
      for (const auto& [env, local] : service->local.environments)
        definition.service_urls[env] = "http://127.0.0.1:" + std::to_string(local.port);
    }
  }
  if (root["owners"])
    definition.owners = check.string_list(root["owners"], "owners");
  const auto envs = environment_names(config);
  std::set<std::string> roles;
  for (const auto& user : config.catalog.users)
    roles.insert(user.roles.begin(), user.roles.end());
  if (const auto allow = root["allow"]; allow && check.expect_map(allow, "allow")) {
    for (const auto& entry : allow) {
      const std::string env = entry.first.as<std::string>("");
      if (env != "*" && std::find(envs.begin(), envs.end(), env) == envs.end()) {
        check.error(entry.first, "allow: names environment '" + env +
                                     "', which is not "
                                     "configured" +
                                     commands::did_you_mean(env, envs));
      }
      definition.allow[env] = check.string_list(entry.second, "roles");
      for (const auto& role : definition.allow[env]) {
        if (!roles.count(role) && role != commands::kAdminRole)
          check.warning(entry.second, "role '" + role + "' is not given to any user");
      }
    }
  }
  if (const auto params = root["params"]; params && check.expect_sequence(params, "params")) {
    for (const auto& item : params)
      parse_param(p, item);
  }
  if (const auto vars = root["vars"]; vars && check.expect_map(vars, "vars")) {
    for (const auto& entry : vars) {
      const std::string env = entry.first.as<std::string>("");
      if (std::find(envs.begin(), envs.end(), env) == envs.end()) {
        check.error(entry.first, "vars: names environment '" + env +
                                     "', which is not "
                                     "configured" +
                                     commands::did_you_mean(env, envs));
      }
      definition.vars[env] = string_map(check, entry.second, "vars of " + env);
    }
  }
  if (root["on_failure"]) {
    const std::string policy = scalar_or(check, root["on_failure"], "on_failure");
    const std::vector<std::string> names = {"stop", "continue", "cleanup"};
    if (policy == "stop")
      definition.on_failure = runbooks::FailurePolicy::stop;
    else if (policy == "continue")
      definition.on_failure = runbooks::FailurePolicy::continue_run;
    else if (policy == "cleanup")
      definition.on_failure = runbooks::FailurePolicy::cleanup;
    else
      check.error(root["on_failure"], "on_failure '" + policy +
                                          "' is not one of stop, continue, "
                                          "cleanup" +
                                          commands::did_you_mean(policy, names));
  }
  if (!root["steps"])
    check.error_at(1, 1, "runbook " + definition.name + " has no steps:");
  else
    parse_steps(p, root["steps"], definition.steps, "steps");
  if (root["cleanup"]) {
    p.in_cleanup = true;
    parse_steps(p, root["cleanup"], definition.cleanup, "cleanup");
  }
  if (definition.on_failure == runbooks::FailurePolicy::cleanup && definition.cleanup.empty())
    check.error(root["on_failure"], "on_failure: cleanup needs a cleanup: list of steps");
  if (check.error_count() != errors_before)
    return;
  for (auto& existing : config.runbooks) {
    if (existing.name == definition.name) {
      check.warning(root["runbook"],
                    "runbook " + definition.name + " replaces the one in " + existing.source);
      existing = std::move(definition);
      return;
    }
  }
  config.runbooks.push_back(std::move(definition));
}

commands::RunbookLibrary make_runbook_library(const Config& config) {
  runbooks::ParamContext context;
  context.environments = environment_names(config);
  for (const auto& service : config.catalog.services)
    context.services.push_back(service.name);
  std::map<std::string, runbooks::SecretSource> secrets;
  for (const auto& [name, ref] : config.secrets) {
    context.secrets.push_back(name);
    secrets[name] = runbooks::SecretSource{.env = ref.env, .file = ref.file};
  }
  return commands::RunbookLibrary(config.runbooks, std::move(context), std::move(secrets));
}

void load_runbooks(Config& config, std::vector<Diagnostic>& out) {
  auto load_one = [&](const std::string& path, const std::string& text) {
    Checker check(path);
    parse_runbook(check, text, path, config);
    auto diagnostics = check.take();
    out.insert(out.end(), diagnostics.begin(), diagnostics.end());
  };
  // The shipped runbooks are written for the embedded default (service hello in staging and
  // production). One that names what this configuration lacks is left out quietly; the shipped
  // files themselves are checked against the embedded default by the tests.
  for (const auto& shipped : runbooks::shipped_runbooks()) {
    Config trial = config;
    trial.runbooks.clear();
    Checker check(shipped.path);
    parse_runbook(check, shipped.text, shipped.path, trial);
    if (!check.has_errors() && trial.runbooks.size() == 1)
      config.runbooks.push_back(std::move(trial.runbooks.front()));
  }
  if (config.runbooks_dir.empty())
    return;
  std::error_code ec;
  if (!fs::is_directory(config.runbooks_dir, ec)) {
    out.push_back({Diagnostic::Severity::error, config.path, 0, 0,
                   "runbooks directory " + config.runbooks_dir + " does not exist"});
    return;
  }
  std::vector<fs::path> files;
  for (const auto& entry : fs::directory_iterator(config.runbooks_dir, ec)) {
    const auto ext = entry.path().extension().string();
    if (entry.is_regular_file() && (ext == ".yaml" || ext == ".yml"))
      files.push_back(entry.path());
  }
  std::sort(files.begin(), files.end());
  for (const auto& file : files) {
    std::ifstream in(file);
    std::stringstream buffer;
    buffer << in.rdbuf();
    load_one(file.string(), buffer.str());
  }
}

}  // namespace shipmate::bot
