// The pipeline target: for teams whose CI pipeline already does the deploying. A deploy of
// service@environment is one run of the configured pipeline with the version, environment and
// action ("deploy" or "rollback") as inputs; the run's outcome is the deploy's outcome.
//
// Contract
// - Threading as in deploy_target.h; the CiProvider is owned by the target.
// - apply()/roll_back() trigger one run and follow it to the end (follow_ci_run with the
//   provider's polling options). A run that fails leaves whatever the pipeline left: Shipmate
//   cannot know what a failed pipeline changed, so the outcome says so and names the run.
// - current_version() answers from what this process saw succeed; Shipmate's deploy history is
//   the record across restarts. restore() changes nothing (the pipeline's environment keeps
//   running without Shipmate) and returns no outcomes.
#pragma once

#include <map>
#include <memory>
#include <string>

#include "common/timer.h"
#include "integrations/ci_provider.h"
#include "integrations/deploy_target.h"

namespace shipmate::integrations {

struct PipelineTargetConfig {
  std::string service;
  FollowOptions follow;
  // The waits between polls of a run (when follow.timers is null): the shared timers
  // build_integrations() gives every target, ManualTimers in tests; null: real time.
  std::shared_ptr<Timers> timers = {};
  // Input names the pipeline receives; empty names are not sent.
  std::string action_input = "action";  // "deploy" or "rollback"
};

std::unique_ptr<DeployTarget> make_pipeline_target(std::unique_ptr<CiProvider> provider,
                                                   PipelineTargetConfig config);

}  // namespace shipmate::integrations
