// Runbook parameters and templates: typed binding with precise refusals, and substitution that
// keeps injection attempts one literal value.
#include <gtest/gtest.h>

#include "runbooks/definition.h"

namespace shipmate::runbooks {
namespace {

Definition with_params() {
  Definition d;
  d.name = "rb";
  ParamSpec env{.name = "env", .type = ParamType::environment, .required = true};
  ParamSpec count{.name = "count", .type = ParamType::integer, .default_value = "3"};
  count.min = 1;
  count.max = 10;
  ParamSpec mode{.name = "mode", .type = ParamType::enumeration, .default_value = "soft"};
  mode.choices = {"soft", "hard"};
  ParamSpec label{.name = "label", .type = ParamType::string};
  label.pattern = "[a-z0-9-]+";
  ParamSpec note{.name = "note", .type = ParamType::string};
  ParamSpec flag{.name = "flag", .type = ParamType::boolean, .default_value = "false"};
  ParamSpec wait{.name = "wait", .type = ParamType::duration, .default_value = "30s"};
  ParamSpec service{.name = "service", .type = ParamType::service, .default_value = "hello"};
  ParamSpec token{.name = "token", .type = ParamType::secret};
  token.default_secret = SecretSource{.env = "HELLO_TOKEN"};
  d.params = {env, count, mode, label, note, flag, wait, service, token};
  d.vars = {{"staging", {{"url", "http://127.0.0.1:8081"}}}};
  return d;
}

ParamContext context() {
  return {.services = {"hello"}, .environments = {"staging", "production"}, .secrets = {"api"}};
}

std::string refusal(const std::map<std::string, std::string>& given) {
  auto bound = bind_parameters(with_params(), given, context());
  return bound.ok() ? "accepted" : bound.error().message;
}

TEST(RunbookParams, DefaultsFillWhatIsNotGiven) {
  auto bound = bind_parameters(with_params(), {{"env", "staging"}}, context());
  ASSERT_TRUE(bound.ok()) << bound.error().message;
  EXPECT_EQ(bound->values.at("count"), "3");
  EXPECT_EQ(bound->values.at("mode"), "soft");
  EXPECT_EQ(bound->values.at("token"), "env:HELLO_TOKEN");
  EXPECT_FALSE(bound->values.count("note"));
  EXPECT_EQ(bound->describe(),
            "count=3 env=staging flag=false mode=soft service=hello token=[secret] wait=30s");
}

TEST(RunbookParams, EachTypeRefusesWhatItDoesNotAccept) {
  EXPECT_EQ(refusal({}), "runbook rb needs env=... (a configured environment)");
  EXPECT_EQ(refusal({{"env", "prod"}}),
            "parameter 'env': 'prod' is not an environment (environments: staging, production); "
            "it accepts a configured environment");
  EXPECT_EQ(refusal({{"env", "stagin"}}),
            "parameter 'env': 'stagin' is not an environment (did you mean 'staging'?) "
            "(environments: staging, production); it accepts a configured environment");
  EXPECT_EQ(refusal({{"env", "staging"}, {"count", "11"}}),
            "parameter 'count': 11 is out of range; it accepts a whole number from 1 to 10");
  EXPECT_EQ(
      refusal({{"env", "staging"}, {"count", "3x"}}),
      "parameter 'count': '3x' is not a whole number; it accepts a whole number from 1 to 10");
  EXPECT_EQ(refusal({{"env", "staging"}, {"mode", "hadr"}}),
            "parameter 'mode': 'hadr' is not offered (did you mean 'hard'?); it accepts one of: "
            "soft, hard");
  EXPECT_EQ(refusal({{"env", "staging"}, {"flag", "maybe"}}),
            "parameter 'flag': 'maybe' is not a yes/no value; it accepts true or false");
  EXPECT_EQ(refusal({{"env", "staging"}, {"wait", "soon"}}),
            "parameter 'wait': 'soon' is not a duration; it accepts a duration such as 30s, 5m "
            "or 2h");
  EXPECT_EQ(refusal({{"env", "staging"}, {"service", "helo"}}),
            "parameter 'service': 'helo' is not a service (did you mean 'hello'?) (services: "
            "hello); it accepts a configured service");
  EXPECT_EQ(refusal({{"env", "staging"}, {"colour", "red"}}),
            "runbook rb has no parameter 'colour'; it takes env, count, mode, label, note, flag, "
            "wait, service, token");
  EXPECT_EQ(refusal({{"env", "staging"}, {"flga", "true"}}),
            "runbook rb has no parameter 'flga' (did you mean 'flag'?); it takes env, count, "
            "mode, label, note, flag, wait, service, token");
}

TEST(RunbookParams, InjectionAttemptsAreRefusedByTheirType) {
  for (const std::string attack : {"$(reboot)", "x; rm -rf /", "`id`", "../../etc", "a b"}) {
    EXPECT_NE(refusal({{"env", "staging"}, {"label", attack}}), "accepted") << attack;
    EXPECT_NE(refusal({{"env", attack}}), "accepted") << attack;
    EXPECT_NE(refusal({{"env", "staging"}, {"count", attack}}), "accepted") << attack;
  }
  // Newlines and other control characters are refused even where any text is allowed.
  EXPECT_EQ(refusal({{"env", "staging"}, {"note", "ok\nFAKE LOG LINE"}}),
            "parameter 'note': the value contains a newline or another control character; it "
            "accepts text without control characters (at most 500 characters)");
  EXPECT_EQ(refusal({{"env", "staging"}, {"note", std::string(501, 'x')}}),
            "parameter 'note': the value is longer than 500 characters; it accepts text without "
            "control characters (at most 500 characters)");
}

TEST(RunbookParams, ASecretIsOnlyEverAReference) {
  auto bound = bind_parameters(with_params(), {{"env", "staging"}, {"token", "api"}}, context());
  ASSERT_TRUE(bound.ok());
  EXPECT_EQ(bound->values.at("token"), "secret:api");
  // A literal typed in chat is refused without being repeated back.
  const std::string answer = refusal({{"env", "staging"}, {"token", "hunter2-literal"}});
  EXPECT_EQ(answer.find("hunter2"), std::string::npos) << answer;
  EXPECT_EQ(answer,
            "parameter 'token': secrets are passed by reference, never typed in chat; give the "
            "name of a secret declared under secrets: (api)");
}

TEST(RunbookTemplates, SubstituteParamsVarsOutputsAndTheRun) {
  const Definition d = with_params();
  auto bound = bind_parameters(d, {{"env", "staging"}}, context());
  std::map<std::string, std::string> outputs = {{"steps.current.version", "v2"}};
  TemplateScope scope{
      .definition = &d, .params = &*bound, .outputs = &outputs, .run_id = "7", .run_by = "alice"};
  EXPECT_EQ(*expand("{vars.url}/x?n={count}&v={steps.current.version} #{run.id} {run.by}", scope),
            "http://127.0.0.1:8081/x?n=3&v=v2 #7 alice");
  EXPECT_EQ(*expand("{{literal}} }}", scope), "{literal} }");
  EXPECT_EQ(*expand("token={token}", scope), "token=[secret]");
  EXPECT_EQ(expand("{nope}", scope).error().message, "unknown placeholder {nope}");
  EXPECT_EQ(expand("{steps.other.x}", scope).error().message,
            "{steps.other.x} has no value (that step has not produced it)");
  scope.reveal_secret = [](const std::string& name) -> Result<std::string> {
    return std::string("value-of-") + name;
  };
  EXPECT_EQ(*expand("token={token}", scope), "token=value-of-token");
}

TEST(RunbookTemplates, AValueStaysExactlyWhatWasTyped) {
  Definition d;
  d.name = "rb";
  d.params = {ParamSpec{.name = "note", .type = ParamType::string}};
  BoundParams bound;
  bound.values["note"] = "$(reboot); `id` ../x \"quoted\" {env}";
  TemplateScope scope{.definition = &d, .params = &bound};
  // No expansion happens inside a value: a brace it contains is not a placeholder.
  EXPECT_EQ(*expand("{note}", scope), "$(reboot); `id` ../x \"quoted\" {env}");
}

TEST(RunbookTemplates, AValueInAPrometheusQueryCannotCloseItsString) {
  const Definition d = with_params();
  auto bound = bind_parameters(d, {{"env", "staging"}}, context());
  std::map<std::string, std::string> outputs = {
      {"steps.s.job", "api\"} or vector(1) or up{job=\"x"}, {"steps.s.path", "a\\b\nc"}};
  TemplateScope scope{.definition = &d, .params = &*bound, .outputs = &outputs};
  scope.escape_value = [](std::string_view value) { return escape_promql_string(value); };
  EXPECT_EQ(*expand(R"(up{{job="{steps.s.job}", env="{env}"}})", scope),
            R"(up{job="api\"} or vector(1) or up{job=\"x", env="staging"})");
  EXPECT_EQ(*expand(R"(x{{p="{steps.s.path}"}})", scope), R"(x{p="a\\b\nc"})");
}

TEST(RunbookTemplates, PlaceholdersAreListedAndBracesChecked) {
  auto names = placeholders("{a} {{b}} {steps.x.y} {vars.url}");
  ASSERT_TRUE(names.ok());
  EXPECT_EQ(*names, (std::vector<std::string>{"a", "steps.x.y", "vars.url"}));
  EXPECT_FALSE(placeholders("{open").ok());
  EXPECT_FALSE(placeholders("close}").ok());
}

TEST(RunbookDefinition, HashIsSha256OfTheText) {
  EXPECT_EQ(content_hash(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_NE(content_hash("a"), content_hash("b"));
}

TEST(RunbookDefinition, PlanShowsResolvedParametersAndHidesSecrets) {
  Definition d = with_params();
  StepSpec exec;
  exec.name = "restart";
  exec.kind = StepKind::exec;
  exec.exec.argv = {"systemctl", "restart", "{service}-{env}", "{note}"};
  exec.exec.env = {{"TOKEN", "{token}"}};
  StepSpec http;
  http.name = "probe";
  http.kind = StepKind::http;
  http.http.url = "{vars.url}/version";
  http.http.captures = {{"version", "version"}};
  StepSpec tell;
  tell.name = "tell";
  tell.kind = StepKind::notify;
  tell.text = "now {steps.probe.version}";
  d.steps = {exec, http, tell};
  auto bound = bind_parameters(d, {{"env", "staging"}, {"note", "two words"}}, context());
  ASSERT_TRUE(bound.ok());
  EXPECT_EQ(render_plan(d, &*bound),
            "  1. restart [unsafe] run systemctl restart hello-staging \"two words\" with "
            "TOKEN=[secret]\n"
            "  2. probe [unsafe] GET http://127.0.0.1:8081/version (capture version <- version)\n"
            "  3. tell [unsafe] notify: now {steps.probe.version}\n"
            "on failure: stop");
}

TEST(RunbookDefinition, AuditDetailsNameServiceAndEnvironment) {
  Definition d = with_params();
  auto bound = bind_parameters(d, {{"env", "staging"}}, context());
  EXPECT_EQ(runbook_audit_details(d, *bound, "4"),
            "runbook=rb run=4 service=hello environment=staging: ");
}

}  // namespace
}  // namespace shipmate::runbooks
