#include "runbooks/definition.h"

#include <openssl/evp.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <regex>

#include "common/clock.h"
#include "common/strings.h"

namespace shipmate::runbooks {
namespace {

// A value typed in chat: at most this long, and never a control character (a newline would
// forge a line in a log or a message).
constexpr std::size_t kMaxValueLength = 500;

std::string suggest(std::string_view word, const std::vector<std::string>& candidates) {
  std::string best;
  std::size_t best_distance = 3;
  for (const auto& candidate : candidates) {
    const std::size_t distance = edit_distance(to_lower(word), to_lower(candidate));
    if (distance < best_distance || (distance == best_distance && best.empty() && distance <= 2)) {
      if (distance <= std::max<std::size_t>(1, word.size() / 3) || distance <= 2) {
        best = candidate;
        best_distance = distance;
      }
    }
  }
  return best.empty() ? "" : " (did you mean '" + best + "'?)";
}

bool has_control_characters(std::string_view text) {
  return std::any_of(text.begin(), text.end(),
                     [](unsigned char c) { return c < 0x20 || c == 0x7f; });
}

std::string one_of(const std::vector<std::string>& names) {
  return names.empty() ? "(none configured)" : join(names, ", ");
}

}  // namespace

std::string_view to_string(ParamType type) {
  switch (type) {
    case ParamType::string:
      return "string";
    case ParamType::integer:
      return "int";
    case ParamType::boolean:
      return "bool";
    case ParamType::enumeration:
      return "enum";
    case ParamType::duration:
      return "duration";
    case ParamType::service:
      return "service";
    case ParamType::environment:
      return "environment";
    case ParamType::secret:
      return "secret";
  }
  return "string";
}

const std::vector<std::string>& param_type_names() {
  static const std::vector<std::string> names = {"string",   "int",     "bool",        "enum",
                                                 "duration", "service", "environment", "secret"};
  return names;
}

std::optional<ParamType> parse_param_type(std::string_view text) {
  for (ParamType type :
       {ParamType::string, ParamType::integer, ParamType::boolean, ParamType::enumeration,
        ParamType::duration, ParamType::service, ParamType::environment, ParamType::secret}) {
    if (to_string(type) == text)
      return type;
  }
  return std::nullopt;
}

std::string_view to_string(Safety safety) {
  switch (safety) {
    case Safety::idempotent:
      return "idempotent";
    case Safety::checkable:
      return "checkable";
    case Safety::unsafe:
      return "unsafe";
  }
  return "unsafe";
}

std::string_view to_string(StepKind kind) {
  switch (kind) {
    case StepKind::exec:
      return "exec";
    case StepKind::http:
      return "http";
    case StepKind::command:
      return "command";
    case StepKind::confirm:
      return "confirm";
    case StepKind::wait:
      return "wait";
    case StepKind::notify:
      return "notify";
  }
  return "exec";
}

std::optional<StepKind> parse_step_kind(std::string_view text) {
  for (StepKind kind : {StepKind::exec, StepKind::http, StepKind::command, StepKind::confirm,
                        StepKind::wait, StepKind::notify}) {
    if (to_string(kind) == text)
      return kind;
  }
  return std::nullopt;
}

std::string_view to_string(FailurePolicy policy) {
  switch (policy) {
    case FailurePolicy::stop:
      return "stop";
    case FailurePolicy::continue_run:
      return "continue";
    case FailurePolicy::cleanup:
      return "cleanup";
  }
  return "stop";
}

std::string SecretSource::describe() const {
  if (!secret.empty())
    return "secret " + secret;
  if (!env.empty())
    return "env " + env;
  return "file " + file;
}

std::string SecretSource::encode() const {
  if (!secret.empty())
    return "secret:" + secret;
  if (!env.empty())
    return "env:" + env;
  return "file:" + file;
}

std::optional<SecretSource> SecretSource::decode(std::string_view text) {
  SecretSource source;
  const auto colon = text.find(':');
  if (colon == std::string_view::npos || colon + 1 == text.size())
    return std::nullopt;
  const std::string_view kind = text.substr(0, colon);
  const std::string value(text.substr(colon + 1));
  if (kind == "secret")
    source.secret = value;
  else if (kind == "env")
    source.env = value;
  else if (kind == "file")
    source.file = value;
  else
    return std::nullopt;
  return source;
}

std::string ParamSpec::accepts() const {
  switch (type) {
    case ParamType::string:
      return pattern.empty() ? "text without control characters (at most 500 characters)"
                             : "text matching " + pattern;
    case ParamType::integer: {
      std::string text = "a whole number";
      if (min && max)
        text += " from " + std::to_string(*min) + " to " + std::to_string(*max);
      else if (min)
        text += " of at least " + std::to_string(*min);
      else if (max)
        text += " of at most " + std::to_string(*max);
      return text;
    }
    case ParamType::boolean:
      return "true or false";
    case ParamType::enumeration:
      return "one of: " + join(choices, ", ");
    case ParamType::duration:
      return "a duration such as 30s, 5m or 2h";
    case ParamType::service:
      return "a configured service";
    case ParamType::environment:
      return "a configured environment";
    case ParamType::secret:
      return "the name of a secret declared under secrets:";
  }
  return "";
}

const ParamSpec* Definition::find_param(std::string_view wanted) const {
  for (const auto& param : params) {
    if (param.name == wanted)
      return &param;
  }
  return nullptr;
}

const ParamSpec* Definition::environment_param() const {
  for (const auto& param : params) {
    if (param.type == ParamType::environment)
      return &param;
  }
  return nullptr;
}

const StepSpec* Definition::find_step(std::string_view wanted) const {
  for (const auto* list : {&steps, &cleanup}) {
    for (const auto& step : *list) {
      if (step.name == wanted)
        return &step;
    }
  }
  return nullptr;
}

std::string runbook_audit_details(const Definition& definition, const BoundParams& params,
                                  std::string_view run) {
  std::string out = "runbook=" + definition.name;
  if (!run.empty())
    out += " run=" + std::string(run);
  std::string service = definition.service;
  std::string environment;
  for (const auto& param : definition.params) {
    auto it = params.values.find(param.name);
    if (it == params.values.end())
      continue;
    if (param.type == ParamType::service && service.empty())
      service = it->second;
    if (param.type == ParamType::environment && environment.empty())
      environment = it->second;
  }
  if (!service.empty())
    out += " service=" + service;
  if (!environment.empty())
    out += " environment=" + environment;
  return out + ": ";
}

std::string content_hash(std::string_view text) {
  std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
  unsigned int size = 0;
  EVP_Digest(text.data(), text.size(), digest.data(), &size, EVP_sha256(), nullptr);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(size * 2);
  for (unsigned int i = 0; i < size; ++i) {
    out.push_back(kHex[digest[i] >> 4]);
    out.push_back(kHex[digest[i] & 0xf]);
  }
  return out;
}

bool BoundParams::is_secret(std::string_view name) const {
  return std::find(secret_params.begin(), secret_params.end(), name) != secret_params.end();
}

std::string BoundParams::describe() const {
  std::string out;
  for (const auto& [name, value] : values) {
    if (!out.empty())
      out += ' ';
    out += name + "=" + (is_secret(name) ? std::string("[secret]") : value);
  }
  return out;
}

Result<std::string> check_parameter_value(const ParamSpec& param, const std::string& value,
                                          const ParamContext& context) {
  auto refuse = [&](const std::string& why) -> Result<std::string> {
    return make_error("parameter '" + param.name + "': " + why + "; it accepts " + param.accepts());
  };
  if (value.size() > kMaxValueLength)
    return refuse("the value is longer than 500 characters");
  if (has_control_characters(value))
    return refuse("the value contains a newline or another control character");
  switch (param.type) {
    case ParamType::string:
      if (!param.pattern.empty()) {
        try {
          if (!std::regex_match(value, std::regex(param.pattern, std::regex::ECMAScript)))
            return refuse("'" + value + "' does not match");
        } catch (const std::regex_error&) {
          return refuse("its pattern is not a valid regex");
        }
      }
      return value;
    case ParamType::integer: {
      long long number = 0;
      const auto* end = value.data() + value.size();
      auto [ptr, ec] = std::from_chars(value.data(), end, number);
      if (value.empty() || ec != std::errc() || ptr != end)
        return refuse("'" + value + "' is not a whole number");
      if ((param.min && number < *param.min) || (param.max && number > *param.max))
        return refuse(value + " is out of range");
      return std::to_string(number);
    }
    case ParamType::boolean: {
      const std::string lowered = to_lower(value);
      if (lowered == "true" || lowered == "yes" || lowered == "on" || lowered == "1")
        return std::string("true");
      if (lowered == "false" || lowered == "no" || lowered == "off" || lowered == "0")
        return std::string("false");
      return refuse("'" + value + "' is not a yes/no value");
    }
    case ParamType::enumeration:
      if (std::find(param.choices.begin(), param.choices.end(), value) == param.choices.end())
        return refuse("'" + value + "' is not offered" + suggest(value, param.choices));
      return value;
    case ParamType::duration:
      if (!parse_duration_ms(value))
        return refuse("'" + value + "' is not a duration");
      return value;
    case ParamType::service:
      if (std::find(context.services.begin(), context.services.end(), value) ==
          context.services.end()) {
        return refuse("'" + value + "' is not a service" + suggest(value, context.services) +
                      " (services: " + one_of(context.services) + ")");
      }
      return value;
    case ParamType::environment:
      if (std::find(context.environments.begin(), context.environments.end(), value) ==
          context.environments.end()) {
        return refuse("'" + value + "' is not an environment" +
                      suggest(value, context.environments) +
                      " (environments: " + one_of(context.environments) + ")");
      }
      return value;
    case ParamType::secret:
      // Only a reference may be typed: the name of a configured secret. A literal value typed in
      // chat would already be in the chat's history, so it is refused without being repeated.
      if (std::find(context.secrets.begin(), context.secrets.end(), value) ==
          context.secrets.end()) {
        return make_error("parameter '" + param.name +
                          "': secrets are passed by reference, never typed in chat; give the "
                          "name of a secret declared under secrets: (" +
                          one_of(context.secrets) + ")");
      }
      return SecretSource{.secret = value}.encode();
  }
  return value;
}

Result<BoundParams> bind_parameters(const Definition& definition,
                                    const std::map<std::string, std::string>& given,
                                    const ParamContext& context) {
  std::vector<std::string> names;
  for (const auto& param : definition.params)
    names.push_back(param.name);
  for (const auto& [name, value] : given) {
    if (!definition.find_param(name)) {
      return make_error("runbook " + definition.name + " has no parameter '" + name + "'" +
                        suggest(name, names) + "; it takes " +
                        (names.empty() ? std::string("none") : join(names, ", ")));
    }
  }
  BoundParams bound;
  for (const auto& param : definition.params) {
    if (param.type == ParamType::secret)
      bound.secret_params.push_back(param.name);
    auto it = given.find(param.name);
    if (it != given.end()) {
      auto value = check_parameter_value(param, it->second, context);
      if (!value)
        return value.error();
      bound.values[param.name] = std::move(*value);
      continue;
    }
    if (param.type == ParamType::secret && param.default_secret) {
      bound.values[param.name] = param.default_secret->encode();
    } else if (param.default_value) {
      bound.values[param.name] = *param.default_value;
    } else if (param.required) {
      return make_error("runbook " + definition.name + " needs " + param.name + "=... (" +
                        param.accepts() + ")");
    }
  }
  return bound;
}

Result<std::vector<std::string>> placeholders(std::string_view text) {
  std::vector<std::string> names;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '{') {
      if (i + 1 < text.size() && text[i + 1] == '{') {
        ++i;
        continue;
      }
      const auto close = text.find('}', i);
      if (close == std::string_view::npos)
        return make_error("unclosed '{' in \"" + std::string(text) + "\"");
      names.emplace_back(trim(text.substr(i + 1, close - i - 1)));
      i = close;
    } else if (text[i] == '}') {
      if (i + 1 < text.size() && text[i + 1] == '}') {
        ++i;
        continue;
      }
      return make_error("unmatched '}' in \"" + std::string(text) + "\" (write }} for a brace)");
    }
  }
  return names;
}

std::string escape_promql_string(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (const char c : value) {
    if (c == '\\' || c == '"') {
      out += '\\';
      out += c;
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

namespace {

// The value of the run's environment parameter ("" when it has none).
std::string run_environment(const TemplateScope& scope) {
  const auto* env_param = scope.definition ? scope.definition->environment_param() : nullptr;
  if (env_param == nullptr || scope.params == nullptr)
    return {};
  auto it = scope.params->values.find(env_param->name);
  return it == scope.params->values.end() ? std::string() : it->second;
}

}  // namespace

Result<std::string> expand(std::string_view text, const TemplateScope& scope) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if ((c == '{' || c == '}') && i + 1 < text.size() && text[i + 1] == c) {
      out.push_back(c);
      ++i;
      continue;
    }
    if (c != '{') {
      out.push_back(c);
      continue;
    }
    const auto close = text.find('}', i);
    if (close == std::string_view::npos)
      return make_error("unclosed '{' in \"" + std::string(text) + "\"");
    const std::string name(trim(text.substr(i + 1, close - i - 1)));
    i = close;
    const std::size_t value_at = out.size();
    if (name == "run.id") {
      out += scope.run_id;
    } else if (name == "run.by") {
      out += scope.run_by;
    } else if (name == "service.url") {
      const Definition* definition = scope.definition;
      const std::string env = run_environment(scope);
      if (!definition || !definition->service_urls.count(env))
        return make_error("{service.url} has no value for environment '" + env + "'");
      out += definition->service_urls.at(env);
    } else if (name.rfind("vars.", 0) == 0) {
      const Definition* definition = scope.definition;
      const std::string env = run_environment(scope);
      const std::string key = name.substr(5);
      if (!definition)
        return make_error("{" + name + "} has no value here");
      auto vars = definition->vars.find(env);
      if (vars == definition->vars.end() || !vars->second.count(key))
        return make_error("{" + name + "} has no value for environment '" + env + "'");
      out += vars->second.at(key);
    } else if (name.rfind("steps.", 0) == 0) {
      if (!scope.outputs || !scope.outputs->count(name))
        return make_error("{" + name + "} has no value (that step has not produced it)");
      out += scope.outputs->at(name);
    } else {
      if (!scope.params)
        return make_error("unknown placeholder {" + name + "}");
      auto it = scope.params->values.find(name);
      if (it == scope.params->values.end()) {
        if (scope.definition && scope.definition->find_param(name)) {
          out += "";  // an optional parameter without a value
          continue;
        }
        return make_error("unknown placeholder {" + name + "}");
      }
      if (scope.params->is_secret(name)) {
        if (!scope.reveal_secret) {
          out += "[secret]";
          continue;
        }
        auto value = scope.reveal_secret(name);
        if (!value)
          return value.error();
        out += *value;
      } else {
        out += it->second;
      }
    }
    if (scope.escape_value && out.size() > value_at) {
      const std::string value = out.substr(value_at);
      out.resize(value_at);
      out += scope.escape_value(value);
    }
  }
  return out;
}

namespace {

std::string show(std::string_view text, const TemplateScope& scope) {
  // In a plan, outputs of earlier steps are not known yet: keep their placeholders.
  std::string staged;
  std::size_t i = 0;
  while (i < text.size()) {
    const auto open = text.find("{steps.", i);
    if (open == std::string_view::npos) {
      staged.append(text.substr(i));
      break;
    }
    const auto close = text.find('}', open);
    if (close == std::string_view::npos) {
      staged.append(text.substr(i));
      break;
    }
    staged.append(text.substr(i, open - i));
    staged += "{{" + std::string(text.substr(open + 1, close - open - 1)) + "}}";
    i = close + 1;
  }
  auto expanded = expand(staged, scope);
  return expanded ? *expanded : std::string(text);
}

std::string describe_step(const StepSpec& step, const TemplateScope& scope) {
  switch (step.kind) {
    case StepKind::exec: {
      std::vector<std::string> argv;
      for (const auto& arg : step.exec.argv) {
        std::string shown = show(arg, scope);
        if (shown.find_first_of(" \"'") != std::string::npos || shown.empty())
          shown = "\"" + shown + "\"";
        argv.push_back(shown);
      }
      std::string text = "run " + join(argv, " ");
      if (!step.exec.env.empty()) {
        std::vector<std::string> env;
        for (const auto& [name, value] : step.exec.env)
          env.push_back(name + "=" + show(value, scope));
        text += " with " + join(env, " ");
      }
      return text;
    }
    case StepKind::http: {
      std::string text = step.http.method + " " + show(step.http.url, scope);
      if (!step.http.captures.empty()) {
        std::vector<std::string> names;
        for (const auto& [name, path] : step.http.captures)
          names.push_back(name + " <- " + path);
        text += " (capture " + join(names, ", ") + ")";
      }
      return text;
    }
    case StepKind::command:
      return "command: " + show(step.command, scope);
    case StepKind::confirm:
      return "ask: " + show(step.prompt, scope) +
             (step.confirm_roles.empty() ? "" : " (" + join(step.confirm_roles, ", ") + ")");
    case StepKind::wait:
      if (step.wait.probe == WaitSpec::Probe::http)
        return "wait until GET " + show(step.wait.http.url, scope) + " answers";
      return "wait until " + show(step.wait.query, scope) + " is within bounds";
    case StepKind::notify:
      return "notify" + (step.channel.empty() ? std::string() : " " + step.channel) + ": " +
             show(step.text, scope);
  }
  return "";
}

}  // namespace

std::string render_plan(const Definition& definition, const BoundParams* params) {
  TemplateScope scope{.definition = &definition, .params = params, .run_id = "N", .run_by = "you"};
  std::string out;
  auto list = [&](const std::vector<StepSpec>& steps) {
    int n = 0;
    for (const auto& step : steps) {
      out += "  " + std::to_string(++n) + ". " + step.name + " [" +
             std::string(to_string(step.safety)) + "] " + describe_step(step, scope);
      if (step.retries > 0)
        out += " (retries " + std::to_string(step.retries) + ")";
      if (step.on_failure)
        out += " (on failure: " + std::string(to_string(*step.on_failure)) + ")";
      out += "\n";
    }
  };
  list(definition.steps);
  if (!definition.cleanup.empty()) {
    out += "cleanup, when a step fails:\n";
    list(definition.cleanup);
  }
  out += "on failure: " + std::string(to_string(definition.on_failure));
  return out;
}

}  // namespace shipmate::runbooks
