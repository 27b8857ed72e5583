#include "commands/whats_new.h"

#include <algorithm>
#include <map>

#include "commands/context.h"
#include "commands/release_notes_book.h"
#include "commands/when.h"
#include "common/strings.h"

namespace shipmate::commands {
namespace {

bool served(const storage::DeployRecord& deploy) {
  return deploy.state == storage::DeployState::succeeded && deploy.finished_at.has_value();
}

bool earlier(const storage::DeployRecord& a, const storage::DeployRecord& b) {
  if (*a.finished_at != *b.finished_at)
    return *a.finished_at < *b.finished_at;
  return a.id < b.id;
}

std::string deploy_line(const storage::DeployRecord& deploy) {
  return "\u2022 " + deploy.service + " " + deploy.version +
         (deploy.kind == storage::DeployKind::rollback ? " (rollback)" : "") + " by " +
         deploy.requested_by + ", " + format_utc(*deploy.finished_at) + " (#" +
         std::to_string(deploy.id) + ")";
}

const integrations::DeployTarget* target_of(Services& services, const std::string& service) {
  const auto it = services.targets.find(service);
  return it == services.targets.end() ? nullptr : it->second.get();
}

// One service's block: the net change, its deploys, and the notes of the range.
boost::asio::awaitable<std::string> describe_change(Services& services, ServiceChange change) {
  std::vector<std::string> deploy_lines;
  for (const auto& deploy : change.deploys)
    deploy_lines.push_back(deploy_line(deploy));
  const std::string deploys = join(deploy_lines, "\n");
  const std::string name = "*" + change.service + "*";
  if (change.before.empty()) {
    co_return name + " " + change.after +
        ": first deployed here in this window, so there is no earlier release to compare "
        "with\n" +
        deploys;
  }
  if (change.before == change.after) {
    co_return name + " " + change.after + " again: no net change (" + change.before +
        " served before as well)\n" + deploys;
  }
  const std::string range = name + " " + change.before + " \u2192 " + change.after;
  if (services.notes == nullptr || !services.notes->covers(change.service))
    co_return range + "\n" + deploys;
  // Exactly one release, whose notes are stored: what people read (an edit wins).
  if (change.deploys.size() == 1 && change.deploys[0].kind != storage::DeployKind::rollback) {
    if (auto stored = services.notes->store().find(change.service, change.after);
        stored && stored->from_version == change.before &&
        (!stored->generated.empty() || stored->edited)) {
      co_return range + (stored->summary.empty() ? "" : ": " + stored->summary) +
          (stored->edited ? " \u00b7 edited by " + stored->edited_by : "") + "\n" + deploys + "\n" +
          stored->text();
    }
  }
  const integrations::DeployTarget* target = target_of(services, change.service);
  Result<GeneratedNotes> forward =
      co_await services.notes->generate(change.service, change.before, change.after, target, false);
  if (!forward)
    co_return range + " (no notes: " + forward.error().message + ")\n" + deploys;
  if (forward->commits > 0) {
    co_return range + ": " + forward->record.summary + " (" +
        count_of(static_cast<long long>(forward->commits), "commit") + ")\n" + deploys + "\n" +
        forward->record.generated;
  }
  // Nothing new: the net change went backwards (a rollback), so say what it took out.
  Result<GeneratedNotes> back =
      co_await services.notes->generate(change.service, change.after, change.before, target, false);
  if (!back || back->commits == 0)
    co_return range + ": no commits between them\n" + deploys;
  co_return range + " (back to an earlier release): takes out " + back->record.summary + " (" +
      count_of(static_cast<long long>(back->commits), "commit") + ")\n" + deploys + "\n" +
      back->record.generated;
}

}  // namespace

std::vector<ServiceChange> plan_whats_new(const std::vector<storage::DeployRecord>& deploys,
                                          EpochMillis since, EpochMillis until) {
  std::vector<storage::DeployRecord> ordered;
  for (const auto& deploy : deploys) {
    if (served(deploy) && *deploy.finished_at <= until)
      ordered.push_back(deploy);
  }
  std::sort(ordered.begin(), ordered.end(), earlier);
  std::map<std::string, std::string> before;  // the last version served at `since`, by service
  std::vector<ServiceChange> out;
  std::map<std::string, std::size_t> index;
  for (const auto& deploy : ordered) {
    if (*deploy.finished_at <= since) {
      before[deploy.service] = deploy.version;
      continue;
    }
    auto [it, added] = index.emplace(deploy.service, out.size());
    if (added) {
      ServiceChange change;
      change.service = deploy.service;
      const auto was = before.find(deploy.service);
      change.before = was == before.end() ? "" : was->second;
      out.push_back(std::move(change));
    }
    ServiceChange& change = out[it->second];
    change.after = deploy.version;
    change.deploys.push_back(deploy);
  }
  return out;
}

boost::asio::awaitable<WhatsNew> compose_whats_new(Services& services, std::string environment,
                                                   EpochMillis since, EpochMillis until,
                                                   std::string title) {
  std::vector<storage::DeployRecord> history;
  for (const auto& service : services.catalog.services) {
    if (std::find(service.environments.begin(), service.environments.end(), environment) ==
        service.environments.end())
      continue;
    auto deploys = services.deploys.history(service.name, environment, 100000);
    history.insert(history.end(), deploys.begin(), deploys.end());
  }
  const std::vector<ServiceChange> changes = plan_whats_new(history, since, until);
  WhatsNew out;
  out.services = changes.size();
  std::vector<std::string> blocks;
  for (const auto& change : changes) {
    out.deploys += change.deploys.size();
    std::string block = co_await describe_change(services, change);
    while (!block.empty() && block.back() == '\n')
      block.pop_back();
    blocks.push_back(std::move(block));
  }
  out.header = title + " since " + describe_instant(since, services.catalog.time_zone);
  if (blocks.empty()) {
    out.header += ": nothing.";
    co_return out;
  }
  out.header += " (" + count_of(static_cast<long long>(out.deploys), "deploy") + " of " +
                count_of(static_cast<long long>(out.services), "service") + "):";
  out.body = join(blocks, "\n\n");
  co_return out;
}

}  // namespace shipmate::commands
