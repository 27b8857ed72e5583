// DORA metrics per calendar week, for the web view's charts (web/pages.h).
//
// Contract: pure (history and `now` in, weeks out); thread-safe. The definitions are
// commands/dora.h's, applied to each week alone.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "commands/dora.h"

namespace shipmate::commands {

// One calendar week (Monday 00:00 UTC to the next Monday) of DORA numbers.
struct DoraWeek {
  EpochMillis start = 0;
  EpochMillis end = 0;     // exclusive
  DoraReport report = {};  // days = 7; what compute_dora gives for that week alone
};

// The last `weeks` weeks up to the one containing `now` (partial), oldest first. A change
// belongs to the week it was requested in; a rollback requested later still undoes it. Runs in
// O(n log n) for n deploys, where compute_dora's search for an undoing rollback is pairwise, so
// the web view can chart 10,000 deploys (web_tests checks that the two agree).
std::vector<DoraWeek> compute_dora_weeks(
    const std::vector<storage::DeployRecord>& history, const std::string& environment,
    EpochMillis now, int weeks, const std::map<std::string, EpochMillis>& incident_restores = {});

// Monday 00:00 UTC of the week containing `at`.
EpochMillis week_start_utc(EpochMillis at);

}  // namespace shipmate::commands
