// Configuration: the YAML file that describes services, environments, users and where Shipmate
// keeps its state.
//
// Contract
// - load_config() never throws for bad input: every problem becomes a Diagnostic with file, line
//   and column (1-based), and the config is only returned when there are no errors.
// - Relative paths in the file are resolved against the file's directory.
// - Secrets are never written in the file: a `secrets:` entry names an environment variable or a
//   file, the value is read at load time and registered for redaction (common/redact.h) before
//   anything else can see it. Keys that look like credentials with literal values are errors.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "commands/alert_intake.h"
#include "commands/incident_model.h"
#include "commands/model.h"
#include "common/clock.h"
#include "integrations/argocd/argocd_target.h"
#include "integrations/ci/github_actions.h"
#include "integrations/ci/github_compare.h"
#include "integrations/ci/gitlab_ci.h"
#include "integrations/ci/jenkins.h"
#include "integrations/git/git_commit_source.h"
#include "integrations/kubernetes/kubernetes_target.h"
#include "runbooks/definition.h"
#include "storage/schedule_store.h"

namespace shipmate::bot {

struct SecretRef {
  std::string name;
  std::string env;   // environment variable holding the value
  std::string file;  // or a file holding it (trailing newline trimmed)
};

// An address an HTTP owner listens on (port 0: any free port).
struct ListenAddress {
  std::string bind;
  int port = 0;
};

// The `http:` section: the one HTTP listener that Slack's HTTP mode, Teams' /api/messages, the
// alert webhooks and the ops endpoints share (integrations/net/http_listeners.h). An owner
// mounts there unless its own section names an address (`listen:`, or an old alias); an owner
// that names the same address shares it too.
struct HttpConfig {
  bool enabled = false;  // the file has an http: section
  std::string bind = "127.0.0.1";
  int port = 8080;
  std::string tls_cert_file;  // absolute; with tls_key_file: HTTPS
  std::string tls_key_file;
  long long header_timeout_ms = 10'000;
  long long body_timeout_ms = 30'000;
  long long idle_timeout_ms = 60'000;
};

struct SlackConfig {
  std::string mode = "socket";  // or "http" (Events API over signed HTTP requests)
  // HTTP mode's own address: `listen:` (or the deprecated http_bind/http_port). Without one,
  // HTTP mode uses the shared http: listener when there is one, else 0.0.0.0:3000.
  bool listen_set = false;
  std::string http_bind = "0.0.0.0";
  int http_port = 3000;
  // Parallel Socket Mode connections (Slack allows up to 10); two, so that a cut or refresh of
  // one never leaves the bot without a socket.
  int connections = 2;
  std::string ca_file;  // extra trusted CA certificates (PEM), e.g. for a TLS-inspecting proxy
  // Reply pacing per channel: `reply_burst` messages back to back, then one per
  // `reply_interval_ms` (Slack allows about one per second per channel).
  long long reply_interval_ms = 1000;
  int reply_burst = 3;
};

// The operations listener (the `ops:` section; bot/ops_server.h): /healthz, /readyz, /metrics.
struct OpsConfig {
  bool enabled = false;  // the file has an ops: section
  // An address of its own (`listen:`, or the deprecated bind/port). Without one the endpoints
  // go on the shared http: listener when there is one, else on 127.0.0.1:9464.
  bool listen_set = false;
  std::string bind = "127.0.0.1";
  int port = 9464;
  long long liveness_deadline_ms = 10'000;  // /healthz fails when the loop's heartbeat is older
};

// The read-only web view on the ops listener (`ops: web:`, web/site.h). Off unless configured.
// Credentials are resolved values from secret references, registered for redaction.
struct WebViewConfig {
  bool enabled = false;
  std::string token;       // Authorization: Bearer
  std::string basic_user;  // Authorization: Basic, with basic_password
  std::string basic_password;
  // People who sign in as themselves (Basic: their user id, their own password), so the view
  // shows them the private incidents they belong to.
  std::vector<std::pair<std::string, std::string>> readers;  // user id, password
  int page_size = 50;
  int max_page_size = 500;
  int dora_weeks = 12;
};

// Microsoft Teams (the `teams:` section; bot/teams/teams_auth.h's load_teams_settings() merges
// it with the environment, which wins). Secrets are resolved values, registered for redaction.
struct TeamsConfig {
  bool present = false;  // the file has a teams: section
  std::string app_id;
  std::string app_password;  // from {secret: name}
  std::string tenant_id;
  std::string app_type;  // "MultiTenant", "SingleTenant" or "" (from the environment, or multi)
  std::string openid_metadata_url;
  std::string login_url;
  std::string token_url;
  std::string oauth_scope;
  std::string token_issuer;
  std::string ca_file;                  // absolute
  std::string outgoing_webhook_secret;  // from {secret: name}; base64
  // `listen:`: an address of its own for /api/messages. PORT in the environment also asks for
  // one (as Bot Framework tooling does); without either, the shared http: listener when there is
  // one, else 0.0.0.0:3978.
  std::optional<ListenAddress> listen;
};

// A CI system and what to run there: a service's build step, or its pipeline target.
struct CiSpec {
  std::string provider;  // "github", "gitlab" or "jenkins"
  integrations::GithubActionsConfig github;
  integrations::GitlabCiConfig gitlab;
  integrations::JenkinsConfig jenkins;
  std::string ca_file;  // extra trusted CA certificates (PEM) for this system

  // How runs of the chosen provider are polled.
  const integrations::FollowOptions& follow() const {
    if (provider == "gitlab")
      return gitlab.follow;
    if (provider == "jenkins")
      return jenkins.follow;
    return github.follow;
  }
};

// The external systems one service uses, by service name in Config::integrations.
struct ServiceIntegrations {
  std::optional<CiSpec> build;     // runs before the rollout (the deploy's building state)
  std::optional<CiSpec> pipeline;  // target kind "pipeline": the pipeline deploys
  std::optional<integrations::ArgoCdTargetConfig> argocd;          // target kind "argocd"
  std::optional<integrations::KubernetesTargetConfig> kubernetes;  // target kind "kubernetes"
  // Mirror this service's deploys into GitHub Deployments (owner, repo, token, api_url).
  std::optional<integrations::GithubActionsConfig> github_deployments;
  std::string github_deployments_ca_file;
  // Release notes (notes:): the service's commits from a clone (libgit2) or from GitHub's
  // compare API; at most one of the two. `paths` (monorepo globs) are in either config.
  std::optional<integrations::GitSourceConfig> notes_git;
  std::optional<integrations::GithubCompareConfig> notes_github;
  std::string notes_ca_file;   // GitHub: extra trusted CA certificates
  std::string notes_pull_url;  // prefix of pull request links ("https://github.com/o/r/pull/")
};

// Where metric checks are evaluated.
struct MetricsConfig {
  std::string prometheus_url;  // "http://127.0.0.1:9090"
  std::string bearer_token;    // secret value, when Prometheus sits behind auth
  std::string ca_file;
  long long timeout_ms = 5000;
};

struct Config {
  std::string path;  // the file it came from (absolute)
  std::string bot_name = "shipmate";
  std::string database_path;  // absolute
  std::string state_dir;      // absolute
  // Replicas on one PostgreSQL (issue 17): this process's name among them (shipmate: replica:,
  // or SHIPMATE_REPLICA at start), and how long its lease lasts (shipmate: replica_lease:).
  // Empty on SQLite (one process per file); "default" on PostgreSQL when none is given. A
  // survivor takes a dead replica's work over 0.87-1.53 leases after the death (the lease, its
  // fifth of grace, and up to a third until the survivor's next renewal): 6 s keeps that under
  // 10 s, and a replica still rides out a stall of about 4 s between renewals.
  std::string replica;
  long long replica_lease_ms = 6'000;
  std::string terminal_user;  // identity for terminal chat when --as is not given
  commands::Catalog catalog;
  std::map<std::string, SecretRef> secrets;
  HttpConfig http;  // http: the shared listener
  SlackConfig slack;
  TeamsConfig teams;
  OpsConfig ops;
  std::map<std::string, ServiceIntegrations> integrations;  // by service name
  std::optional<MetricsConfig> metrics;
  commands::IncidentSettings incidents;  // incidents: (bot/config_incidents.h)
  commands::AlertSettings alerts;        // alerts: (bot/config_incidents.h)
  // Runbooks: the shipped ones and those of `runbooks_dir` (bot/runbook_config.h).
  std::string runbooks_dir;  // absolute; empty: only the shipped runbooks
  std::vector<runbooks::Definition> runbooks;
  // Schedules declared under schedules: (bot/config_schedules.h), origin "config".
  std::vector<storage::ScheduleRecord> schedules;
  WebViewConfig web;  // ops: web: (bot/config_web.cpp)
};

struct Diagnostic {
  enum class Severity { error, warning };
  Severity severity = Severity::error;
  std::string file;
  int line = 0;    // 1-based; 0 when unknown
  int column = 0;  // 1-based
  std::string message;
  std::string to_string() const;  // "file:line:column: error: message"
};

struct ConfigLoad {
  std::optional<Config> config;  // set when there are no errors
  std::vector<Diagnostic> diagnostics;
  bool ok() const { return config.has_value(); }
};

ConfigLoad load_config(const std::string& path);
// Parses YAML text; `path` names it in diagnostics and anchors relative paths.
ConfigLoad parse_config(std::string_view yaml, const std::string& path);

using shipmate::parse_duration_ms;

}  // namespace shipmate::bot
