#include "bot/integrations_setup.h"

#include "bot/target_kinds.h"
#include "integrations/ci/github_actions.h"
#include "integrations/ci/gitlab_ci.h"
#include "integrations/ci/jenkins.h"
#include "integrations/metrics/prometheus.h"

namespace shipmate::bot {
namespace {

integrations::net::HttpClient& http_for(Integrations& out, boost::asio::any_io_executor executor,
                                        const std::string& ca_file) {
  auto& slot = out.http[ca_file];
  if (!slot) {
    integrations::net::HttpClientOptions options;
    options.ca_file = ca_file;
    options.max_idle_per_host = 8;
    slot = std::make_unique<integrations::net::HttpClient>(executor, options);
  }
  return *slot;
}

// Rollout checks through Prometheus instant queries.
class PrometheusSource final : public commands::MetricsSource {
 public:
  PrometheusSource(integrations::net::HttpClient& http, const MetricsConfig& config)
      : client_(http, prometheus_options(config)) {}

  boost::asio::awaitable<commands::CheckOutcome> evaluate(
      const commands::MetricCheckSpec& check,
      const std::map<std::string, std::string>& vars) override {
    integrations::MetricCheck metric;
    metric.name = check.name;
    metric.query = check.query;
    metric.max = check.max;
    metric.min = check.min;
    metric.expanded = check.expanded;
    std::map<std::string, std::string> values = vars;
    const integrations::CheckResult result =
        co_await client_.evaluate(std::move(metric), std::move(values));
    commands::CheckOutcome outcome;
    switch (result.verdict) {
      case integrations::CheckVerdict::pass:
        outcome.verdict = commands::CheckVerdict::pass;
        break;
      case integrations::CheckVerdict::breach:
        outcome.verdict = commands::CheckVerdict::breach;
        break;
      case integrations::CheckVerdict::inconclusive:
        outcome.verdict = commands::CheckVerdict::inconclusive;
        break;
    }
    outcome.message = result.message;
    co_return outcome;
  }

 private:
  static integrations::PrometheusOptions prometheus_options(const MetricsConfig& config) {
    integrations::PrometheusOptions options;
    options.base_url = config.prometheus_url;
    options.bearer_token = config.bearer_token;
    options.timeout = std::chrono::milliseconds(config.timeout_ms);
    return options;
  }

  integrations::PrometheusClient client_;
};

}  // namespace

Result<std::unique_ptr<integrations::CiProvider>> make_ci_provider(
    Integrations& out, boost::asio::any_io_executor executor, const CiSpec& spec,
    const std::string& where) {
  auto& http = http_for(out, executor, spec.ca_file);
  std::unique_ptr<integrations::CiProvider> provider;
  if (spec.provider == "github") {
    provider = std::make_unique<integrations::GithubActions>(http, spec.github);
  } else if (spec.provider == "gitlab") {
    provider = std::make_unique<integrations::GitlabCi>(http, spec.gitlab);
  } else if (spec.provider == "jenkins") {
    provider = std::make_unique<integrations::Jenkins>(http, spec.jenkins);
  } else {
    return make_error(where + ": unknown CI provider '" + spec.provider + "'");
  }
  if (auto valid = provider->validate(); !valid)
    return make_error(where + ": " + valid.error().message);
  return provider;
}

Result<std::unique_ptr<Integrations>> build_integrations(boost::asio::any_io_executor executor,
                                                         const Config& config) {
  auto out = std::make_unique<Integrations>();
  out->timers = std::make_shared<SteadyTimers>(executor);
  std::map<std::string, std::unique_ptr<integrations::GithubDeployments>> mirrors;
  for (const auto& service : config.catalog.services) {
    const std::string where = "service " + service.name;
    const auto found = config.integrations.find(service.name);
    const ServiceIntegrations none;
    const ServiceIntegrations& extra = found == config.integrations.end() ? none : found->second;
    const TargetKind* kind = find_target_kind(service.target_kind);
    if (kind == nullptr)
      return make_error(where + ": target kind '" + service.target_kind + "' is not configured");
    auto target = kind->build(TargetBuild{executor, config, service, extra, *out, where});
    if (!target)
      return target.error();
    out->targets[service.name] = std::move(*target);
    if (extra.build) {
      auto provider = make_ci_provider(*out, executor, *extra.build, where + " (build)");
      if (!provider)
        return provider.error();
      out->builds[service.name] = std::move(*provider);
    }
    if (extra.notes_git) {
      out->notes[service.name] = commands::NotesSource{
          std::make_unique<integrations::GitCommitSource>(*extra.notes_git), extra.notes_pull_url};
    } else if (extra.notes_github) {
      auto& http = http_for(*out, executor, extra.notes_ca_file);
      out->notes[service.name] = commands::NotesSource{
          std::make_unique<integrations::GithubCompare>(http, *extra.notes_github),
          extra.notes_pull_url};
    }
    if (extra.github_deployments) {
      auto& http = http_for(*out, executor, extra.github_deployments_ca_file);
      mirrors[service.name] =
          std::make_unique<integrations::GithubDeployments>(http, *extra.github_deployments);
    }
  }
  if (config.metrics) {
    auto& http = http_for(*out, executor, config.metrics->ca_file);
    out->metrics = std::make_unique<PrometheusSource>(http, *config.metrics);
  }
  if (!mirrors.empty())
    out->github_mirror = std::make_unique<GithubDeploymentMirror>(executor, std::move(mirrors));
  return out;
}

}  // namespace shipmate::bot
