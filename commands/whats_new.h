// What reached an environment in a window of time, from the deploy ledger and the release notes:
// `whats-new <env> [since <when> | since #<deploy>]` and the release digest a schedule posts.
//
// Contract
// - plan_whats_new() is the decision, without I/O: given the deploys of one environment (any
//   services, any order, any states) and a window (since, until], which services changed and
//   how. For each service with at least one successful deploy (or rollback) finished inside the
//   window: the version that served at `since` (the last successful one finished at or before
//   it; empty when the service had never been deployed there), the version serving at `until`,
//   and the successful deploys inside the window, oldest first. Deploys that failed, were
//   cancelled or rolled themselves back changed nothing and are left out. Services are ordered
//   by their first deploy in the window.
// - compose_whats_new() turns the plan into text, awaiting the notes book (a libgit2 clone works
//   on a thread of its own, GitHub is HTTP; the event loop is never blocked): per service the
//   net change (before -> after) with the notes of exactly the commits reachable from `after`
//   and not from `before` (ancestry, never dates); a net step backwards lists what was taken out;
//   a service first deployed inside the window says so instead of listing all history; a range
//   that is exactly one stored release shows its stored notes, so a person's `notes edit` is
//   what people read. A service without a repository, or whose source fails, still lists its
//   deploys, with the reason on one line. Nothing is stored.
// - Event-loop thread only (Services). Errors never escape: they become lines of the text.
#pragma once

#include <string>
#include <vector>

#include <boost/asio/awaitable.hpp>

#include "common/clock.h"
#include "storage/deploy_store.h"

namespace shipmate::commands {

struct Services;

struct ServiceChange {
  std::string service;
  std::string before;  // served at `since`; empty: first deployed inside the window
  std::string after;   // serves at `until`
  std::vector<storage::DeployRecord> deploys;  // successful ones inside the window, oldest first
};

std::vector<ServiceChange> plan_whats_new(const std::vector<storage::DeployRecord>& deploys,
                                          EpochMillis since, EpochMillis until);

struct WhatsNew {
  std::string header;  // "What's new in production since ... (3 deploys of 2 services)"
  std::string body;    // one block per service; empty when nothing changed
  std::size_t deploys = 0;
  std::size_t services = 0;
};

// `title` starts the header ("What's new in production", "What shipped to production").
boost::asio::awaitable<WhatsNew> compose_whats_new(Services& services, std::string environment,
                                                   EpochMillis since, EpochMillis until,
                                                   std::string title);

}  // namespace shipmate::commands
