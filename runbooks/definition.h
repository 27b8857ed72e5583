// Runbook definitions: what a runbook declares (typed parameters, steps, failure policy), how
// chat arguments are bound to its parameters, and how `{...}` placeholders are filled in.
//
// Contract
// - Plain values, no I/O. A Definition is built once by the configuration loader
//   (bot/runbook_config.h, which reports every problem with file:line:col) and is read-only
//   afterwards, so it may be shared between threads.
// - bind_parameters() decides every chat-typed value before anything runs: a refusal names the
//   parameter and what it accepts, in one line. It never sees a secret's value: a secret
//   parameter is bound to a *reference* (a configured secret's name, or the definition's default
//   {env: X} / {file: path}), and only the executor reads the value, right before the step that
//   needs it, registering it for redaction (common/redact.h).
// - Templates: "{name}" is a parameter, "{vars.key}" a per-environment value, "{service.url}"
//   where the runbook's service answers in the run's environment, "{steps.S.key}" an
//   output of the earlier step S, "{run.id}" / "{run.by}" the run; "{{" and "}}" are literal
//   braces. Substitution never splits or joins text: an argv element stays exactly one argv
//   element whatever a value contains ($(...), ';', backticks, newlines, spaces), and no shell
//   ever sees it. A secret may only appear where it cannot be echoed into argv, URLs or chat:
//   exec env: and files:, http headers: and body: (the loader checks this).
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace shipmate::runbooks {

enum class ParamType {
  string,
  integer,
  boolean,
  enumeration,
  duration,
  service,
  environment,
  secret
};
std::string_view to_string(ParamType type);
std::optional<ParamType> parse_param_type(std::string_view text);
const std::vector<std::string>& param_type_names();

// Where a secret's value comes from. Exactly one field is set.
struct SecretSource {
  std::string secret = {};  // a name declared under the configuration's secrets:
  std::string env = {};     // an environment variable of the Shipmate process
  std::string file = {};    // a file (trailing newline trimmed)
  // "secret hello_api_key", "env HELLO_TOKEN", "file /run/secrets/x": never the value.
  std::string describe() const;
  // The compact form stored in the journal: "secret:name", "env:VAR", "file:/path".
  std::string encode() const;
  static std::optional<SecretSource> decode(std::string_view text);
};

struct ParamSpec {
  std::string name = {};
  ParamType type = ParamType::string;
  std::string description = {};
  bool required = false;
  std::optional<std::string> default_value = {};    // for every type but secret
  std::optional<SecretSource> default_secret = {};  // for secret
  std::string pattern = {};                         // string: a whole-value regex (ECMAScript)
  std::optional<long long> min = {}, max = {};      // integer bounds
  std::vector<std::string> choices = {};            // enumeration
  // One line describing what the parameter accepts, for errors and `runbook show`.
  std::string accepts() const;
};

// How a step may be repeated after a crash cut it off mid-flight.
//  idempotent: run it again. checkable: run its check; when the check passes the step counts as
//  done, otherwise it runs again. unsafe: the run waits for `runbook resume|abort`.
enum class Safety { idempotent, checkable, unsafe };
std::string_view to_string(Safety safety);

enum class StepKind { exec, http, command, confirm, wait, notify };
std::string_view to_string(StepKind kind);
std::optional<StepKind> parse_step_kind(std::string_view text);

// stop: the run fails. continue: the failure is reported and the next step runs.
// cleanup: the runbook's cleanup steps run, then the run fails.
enum class FailurePolicy { stop, continue_run, cleanup };
std::string_view to_string(FailurePolicy policy);

struct ExecSpec {
  std::vector<std::string> argv;             // templates, one element each; no shell
  std::string cwd;                           // template; empty: Shipmate's state directory
  std::map<std::string, std::string> env;    // variable -> template (secrets allowed)
  std::map<std::string, std::string> files;  // variable -> template written to a 0600 file
                                             // whose path the variable holds (secrets allowed)
  std::vector<int> expect_exit = {0};
};

struct HttpSpec {
  std::string method = "GET";
  std::string url;                              // template (no secrets)
  std::map<std::string, std::string> headers;   // templates (secrets allowed)
  std::string body;                             // template (secrets allowed)
  std::vector<int> expect_status;               // empty: any 2xx
  std::map<std::string, std::string> captures;  // output name -> JSON path ("a.b[0].c")
};

struct WaitSpec {
  enum class Probe { http, prometheus };
  Probe probe = Probe::http;
  HttpSpec http;      // the probe passes when the status is expected
  std::string query;  // prometheus: an instant query (template); passes within min/max
  std::optional<double> min, max;
  long long interval_ms = 5000;
};

struct StepSpec {
  std::string name;  // unique in the runbook; outputs are {steps.<name>.<key>}
  StepKind kind = StepKind::exec;
  Safety safety = Safety::unsafe;
  int line = 0;  // in the definition's file, for messages
  ExecSpec exec;
  HttpSpec http;
  std::string command;                     // command: the Shipmate command (template)
  std::string prompt;                      // confirm: the question (template)
  std::vector<std::string> confirm_roles;  // confirm: who may answer; empty: who may run it
  WaitSpec wait;
  std::string text;     // notify: the message (template)
  std::string channel;  // notify: a conversation address; empty: the run's thread
  // checkable: an exec or http step whose success means this step already happened.
  std::shared_ptr<const StepSpec> check;
  long long timeout_ms = 60'000;  // one attempt (exec, http, command, confirm) or the whole wait
  int retries = 0;                // extra attempts after a failure
  long long backoff_ms = 1000;    // before retry n: backoff * 2^(n-1), capped at 5 minutes
  std::optional<FailurePolicy> on_failure;  // overrides the runbook's
};

struct Definition {
  std::string name;
  std::string description;
  std::vector<std::string> owners;
  // The service it acts on, when it is about one (runbook-level service:, or else the value of
  // its service parameter); recorded with every audit record of its runs.
  std::string service;
  // Roles that may run it per environment; "*" applies to every environment. Empty: the
  // environment's deploy permission decides (like a deploy there).
  std::map<std::string, std::vector<std::string>> allow;
  std::vector<ParamSpec> params;
  std::vector<StepSpec> steps;
  std::vector<StepSpec> cleanup;
  FailurePolicy on_failure = FailurePolicy::stop;
  // Per-environment values, {vars.key}, chosen by the run's environment parameter.
  std::map<std::string, std::map<std::string, std::string>> vars;
  // {service.url}: where `service` answers in each environment ("http://127.0.0.1:8081"), filled
  // by the configuration loader from the service's target, so a runbook follows the configured
  // ports instead of repeating them.
  std::map<std::string, std::string> service_urls;
  std::string source;  // the file it came from ("runbooks/shipped/restart-hello.yaml")
  std::string hash;    // SHA-256 (hex) of that file's text: a resumed run needs the same one

  const ParamSpec* find_param(std::string_view name) const;
  // The first parameter of type environment, if any: the scope of its permission and {vars.*}.
  const ParamSpec* environment_param() const;
  const StepSpec* find_step(std::string_view name) const;
};

// SHA-256 of `text`, lowercase hex.
std::string content_hash(std::string_view text);

// What the names typed in chat are checked against.
struct ParamContext {
  std::vector<std::string> services = {};
  std::vector<std::string> environments = {};
  std::vector<std::string> secrets = {};  // names declared under secrets:
};

// The parameters of one run. Secret parameters hold a reference (SecretSource::encode()), never
// a value; `secret_params` names them.
struct BoundParams {
  std::map<std::string, std::string> values = {};
  std::vector<std::string> secret_params = {};
  bool is_secret(std::string_view name) const;
  // "env=staging token=[secret]" for messages.
  std::string describe() const;
};

// "runbook=restart-hello run=7 service=hello environment=staging: " — the prefix of every audit
// record of a run (run 0: not started), so an incident's timeline can pick runs up by service
// and environment. Fields with no value are left out.
std::string runbook_audit_details(const Definition& definition, const BoundParams& params,
                                  std::string_view run);

// Checks one value against its parameter's type: the canonical value, or a refusal naming the
// parameter and what it accepts. For a secret parameter the value is a configured secret's name.
Result<std::string> check_parameter_value(const ParamSpec& param, const std::string& value,
                                          const ParamContext& context);

// Checks `given` (key=value from chat) against the definition: unknown names (with a
// suggestion), missing required ones, each value against its type; fills defaults.
Result<BoundParams> bind_parameters(const Definition& definition,
                                    const std::map<std::string, std::string>& given,
                                    const ParamContext& context);

// Everything a template may refer to while a run goes on.
struct TemplateScope {
  const Definition* definition = nullptr;
  const BoundParams* params = nullptr;
  const std::map<std::string, std::string>* outputs = nullptr;  // "steps.S.key" -> value
  std::string run_id = {};
  std::string run_by = {};
  // The value of a secret parameter, for the executor only (it reads the reference and registers
  // the value for redaction). When empty, secret parameters expand to "[secret]".
  std::function<Result<std::string>(const std::string& param)> reveal_secret = {};
  // Applied to every substituted value (not to the template's own text), for a template whose
  // result another language reads: a Prometheus query quotes values as PromQL strings, so a value
  // cannot end its string and add to the query.
  std::function<std::string(std::string_view value)> escape_value = {};
};

// A value made safe inside a PromQL double-quoted string: backslash, quote and newline escaped.
std::string escape_promql_string(std::string_view value);

// Fills `text`. Unknown names are errors ("unknown placeholder {foo}").
Result<std::string> expand(std::string_view text, const TemplateScope& scope);
// The names a template refers to ("env", "vars.url", "steps.current.version"); an error for an
// unbalanced brace.
Result<std::vector<std::string>> placeholders(std::string_view text);

// The plan `runbook run --dry-run` and `runbook show` print: each step with its parameters
// resolved and secrets shown as [secret]; outputs of earlier steps stay as placeholders.
std::string render_plan(const Definition& definition, const BoundParams* params);

}  // namespace shipmate::runbooks
