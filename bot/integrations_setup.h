// Builds the external-system side of Shipmate from its configuration: each service's deploy
// target (whichever kind bot/target_kinds.h lists), its CI build, the metrics source for rollout
// checks, and the GitHub Deployments mirror.
//
// Contract
// - Everything is created for `executor` (the event loop) and used on its thread only.
// - build_integrations() does no network I/O; problems it can find without the network (a
//   kubeconfig that does not load, a provider's own validation) come back as one Error naming
//   the service. The network is first used by a deploy, or by restore() at start-up.
// - Members are declared so that the HTTP clients outlive everything that borrows them.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include <boost/asio/any_io_executor.hpp>

#include "bot/config.h"
#include "bot/github_mirror.h"
#include "commands/release_notes_book.h"
#include "commands/verification.h"
#include "common/timer.h"
#include "integrations/ci_provider.h"
#include "integrations/deploy_target.h"
#include "integrations/net/http_client.h"

namespace shipmate::bot {

struct Integrations {
  // Paces every target's polling and retries (real time here; tests build targets with their own).
  std::shared_ptr<Timers> timers;
  std::map<std::string, std::unique_ptr<integrations::net::HttpClient>> http;  // by CA file
  std::map<std::string, std::unique_ptr<integrations::DeployTarget>> targets;  // by service
  std::map<std::string, std::unique_ptr<integrations::CiProvider>> builds;     // by service
  std::unique_ptr<commands::MetricsSource> metrics;
  std::unique_ptr<GithubDeploymentMirror> github_mirror;
  // Release-note commit sources by service (notes: in the configuration); the App hands them to
  // its ReleaseNotesBook.
  std::map<std::string, commands::NotesSource> notes;
};

// Every service's target (through the target-kind table, bot/target_kinds.h), build provider and
// GitHub mirror, and the metrics source.
Result<std::unique_ptr<Integrations>> build_integrations(boost::asio::any_io_executor executor,
                                                         const Config& config);

// The CI provider `spec` names, on `out`'s shared HTTP client for its CA file, validated.
// Errors start with `where` ("service api (build)").
Result<std::unique_ptr<integrations::CiProvider>> make_ci_provider(
    Integrations& out, boost::asio::any_io_executor executor, const CiSpec& spec,
    const std::string& where);

}  // namespace shipmate::bot
