#include "storage/deploy_store.h"

#include <algorithm>
#include <array>
#include <utility>

#include "common/redact.h"
#include "storage/history_pages.h"

namespace shipmate::storage {
namespace {

constexpr std::array<std::pair<DeployKind, std::string_view>, 3> kKindNames = {{
    {DeployKind::deploy, "deploy"},
    {DeployKind::rollback, "rollback"},
    {DeployKind::redeploy, "redeploy"},
}};

constexpr std::array<std::pair<DeployState, std::string_view>, 11> kStateNames = {{
    {DeployState::requested, "requested"},
    {DeployState::awaiting_approval, "awaiting_approval"},
    {DeployState::queued, "queued"},
    {DeployState::building, "building"},
    {DeployState::deploying, "deploying"},
    {DeployState::verifying, "verifying"},
    {DeployState::succeeded, "succeeded"},
    {DeployState::failed, "failed"},
    {DeployState::rolled_back, "rolled_back"},
    {DeployState::cancelled, "cancelled"},
    {DeployState::timed_out, "timed_out"},
}};

constexpr std::string_view kDeployColumns =
    "id, service, environment, version, previous_version, kind, requested_by, state, reason, "
    "detail, chat_ref, requested_at, finished_at, committed_at, ci_run_id, ci_run_url, overridden, "
    "incident, owner, epoch, rollout";

// "'requested', 'queued', ..." for every non-terminal state, so queries for live deploys can use
// the index on state and stay correct when a state is added to the enum.
std::string non_terminal_state_list() {
  std::string out;
  for (const auto& [state, name] : kStateNames) {
    if (is_terminal(state))
      continue;
    if (!out.empty())
      out += ", ";
    out += "'";
    out += name;
    out += "'";
  }
  return out;
}

const std::string& non_terminal_states() {
  static const std::string list = non_terminal_state_list();
  return list;
}

DeployState state_from_column(std::string_view text, std::int64_t id) {
  auto state = parse_deploy_state(text);
  if (!state) {
    throw StorageError("deploy #" + std::to_string(id) + " has an unknown state '" +
                       std::string(text) + "'");
  }
  return *state;
}

DeployRecord read_deploy(const Statement& row) {
  DeployRecord record;
  record.id = row.column_int64(0);
  record.service = row.column_text(1);
  record.environment = row.column_text(2);
  record.version = row.column_text(3);
  record.previous_version = row.column_text(4);
  const std::string kind = row.column_text(5);
  auto parsed_kind = parse_deploy_kind(kind);
  if (!parsed_kind) {
    throw StorageError("deploy #" + std::to_string(record.id) + " has an unknown kind '" + kind +
                       "'");
  }
  record.kind = *parsed_kind;
  record.requested_by = row.column_text(6);
  record.state = state_from_column(row.column_text(7), record.id);
  record.reason = row.column_text(8);
  record.detail = row.column_text(9);
  record.chat_ref = row.column_text(10);
  record.requested_at = row.column_int64(11);
  record.finished_at = row.column_optional_int64(12);
  record.committed_at = row.column_optional_int64(13);
  record.ci_run_id = row.column_text(14);
  record.ci_run_url = row.column_text(15);
  record.overridden = row.column_text(16);
  record.incident = row.column_text(17);
  record.owner = row.column_text(18);
  record.epoch = row.column_int64(19);
  record.rollout = row.column_text(20);
  return record;
}

std::optional<DeployRecord> first_deploy(Statement& query) {
  if (!query.step())
    return std::nullopt;
  return read_deploy(query);
}

std::vector<DeployRecord> all_deploys(Statement& query) {
  std::vector<DeployRecord> out;
  while (query.step())
    out.push_back(read_deploy(query));
  return out;
}

}  // namespace

std::string_view to_string(DeployKind kind) {
  for (const auto& [value, name] : kKindNames) {
    if (value == kind)
      return name;
  }
  return "unknown";
}

std::string_view to_string(DeployState state) {
  for (const auto& [value, name] : kStateNames) {
    if (value == state)
      return name;
  }
  return "unknown";
}

std::optional<DeployKind> parse_deploy_kind(std::string_view text) {
  for (const auto& [value, name] : kKindNames) {
    if (name == text)
      return value;
  }
  return std::nullopt;
}

std::optional<DeployState> parse_deploy_state(std::string_view text) {
  for (const auto& [value, name] : kStateNames) {
    if (name == text)
      return value;
  }
  return std::nullopt;
}

bool is_terminal(DeployState state) {
  switch (state) {
    case DeployState::succeeded:
    case DeployState::failed:
    case DeployState::rolled_back:
    case DeployState::cancelled:
    case DeployState::timed_out:
      return true;
    case DeployState::requested:
    case DeployState::awaiting_approval:
    case DeployState::queued:
    case DeployState::building:
    case DeployState::deploying:
    case DeployState::verifying:
      return false;
  }
  return false;
}

DeployRecord DeployStore::create(const NewDeploy& request) {
  const EpochMillis now = clock_.now_ms();
  const std::string reason = redact(request.reason);
  const std::string message = redact(std::string(to_string(request.kind)) + " of " +
                                     request.version + " requested by " + request.requested_by);
  // A unique partial index allows one live deploy per service and environment, whoever writes
  // it; the deploy policy checks active_for() first, so this refusal is for racing writers.
  const auto insert = [&] {
    return db_.transaction([&] {
      const std::int64_t new_id =
          db_.prepare(
                 "INSERT INTO deploys (service, environment, version, previous_version, kind, "
                 "requested_by, state, reason, detail, chat_ref, requested_at, finished_at, "
                 "committed_at, overridden, owner) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, "
                 "?10, ?11, NULL, ?12, ?13, ?14) RETURNING id")
              .bind(1, request.service)
              .bind(2, request.environment)
              .bind(3, request.version)
              .bind(4, request.previous_version)
              .bind(5, to_string(request.kind))
              .bind(6, request.requested_by)
              .bind(7, to_string(DeployState::requested))
              .bind(8, reason)
              .bind(9, message)
              .bind(10, request.chat_ref)
              .bind(11, now)
              .bind(12, request.committed_at)
              .bind(13, redact(request.overridden))
              .bind(14, request.owner)
              .scalar();
      db_.prepare(
             "INSERT INTO deploy_events (deploy_id, at, from_state, to_state, message) "
             "VALUES (?1, ?2, NULL, ?3, ?4)")
          .bind(1, new_id)
          .bind(2, now)
          .bind(3, to_string(DeployState::requested))
          .bind(4, message)
          .run();
      return new_id;
    });
  };
  std::int64_t id = 0;
  try {
    id = insert();
  } catch (const ConstraintError&) {
    std::string message =
        "another deploy of " + request.service + " to " + request.environment + " is still live";
    if (auto active = active_for(request.service, request.environment)) {
      message = "deploy #" + std::to_string(active->id) + " (" + request.service + " " +
                active->version + " to " + request.environment + ") is still " +
                std::string(to_string(active->state));
    }
    throw StorageError(message + "; only one deploy per service and environment can be live");
  }

  DeployRecord record;
  record.id = id;
  record.service = request.service;
  record.environment = request.environment;
  record.version = request.version;
  record.previous_version = request.previous_version;
  record.kind = request.kind;
  record.requested_by = request.requested_by;
  record.state = DeployState::requested;
  record.reason = reason;
  record.detail = message;
  record.chat_ref = request.chat_ref;
  record.requested_at = now;
  record.committed_at = request.committed_at;
  record.overridden = redact(request.overridden);
  return record;
}

TransitionOutcome DeployStore::transition_if(std::int64_t id, DeployState expected,
                                             std::int64_t epoch, DeployState to,
                                             std::string_view message,
                                             std::optional<std::string_view> rollout) {
  const EpochMillis now = clock_.now_ms();
  const std::string text = redact(message);
  return db_.transaction([&] {
    // The condition is the compare-and-set: on PostgreSQL a second writer's UPDATE waits for the
    // first one's row lock and then finds the condition false; SQLite's writers take turns.
    // finished_at is kept consistent with the state (set exactly when terminal), even if the
    // state machine ever moves a deploy out of a terminal state. The rollout progress changes
    // in the same statement when one is given (NULL keeps the recorded one).
    db_.prepare(
           "UPDATE deploys SET state = ?4, detail = ?5, finished_at = ?6, "
           "rollout = COALESCE(?7, rollout) WHERE id = ?1 AND state = ?2 AND epoch = ?3")
        .bind(1, id)
        .bind(2, to_string(expected))
        .bind(3, epoch)
        .bind(4, to_string(to))
        .bind(5, text)
        .bind(6, is_terminal(to) ? std::optional<EpochMillis>(now) : std::nullopt)
        .bind(7, rollout ? std::optional<std::string>(redact(*rollout)) : std::nullopt)
        .run();
    const bool applied = db_.changes() == 1;
    if (applied) {
      db_.prepare(
             "INSERT INTO deploy_events (deploy_id, at, from_state, to_state, message) "
             "VALUES (?1, ?2, ?3, ?4, ?5)")
          .bind(1, id)
          .bind(2, now)
          .bind(3, to_string(expected))
          .bind(4, to_string(to))
          .bind(5, text)
          .run();
    }
    auto record = get(id);
    if (!record)
      throw StorageError("deploy #" + std::to_string(id) + " does not exist");
    return TransitionOutcome{applied, std::move(*record)};
  });
}

DeployRecord DeployStore::transition(std::int64_t id, DeployState to, std::string_view message) {
  return db_.transaction([&] {
    auto current = get(id);
    if (!current)
      throw StorageError("deploy #" + std::to_string(id) + " does not exist");
    TransitionOutcome outcome = transition_if(id, current->state, current->epoch, to, message);
    if (!outcome.applied) {
      throw StorageError("deploy #" + std::to_string(id) + " changed while it was being moved to " +
                         std::string(to_string(to)) + "; it is now " +
                         std::string(to_string(outcome.record.state)));
    }
    return std::move(outcome.record);
  });
}

TransitionOutcome DeployStore::set_rollout_if(std::int64_t id, DeployState expected,
                                              std::int64_t epoch, std::string_view rollout) {
  return db_.transaction([&] {
    db_.prepare("UPDATE deploys SET rollout = ?4 WHERE id = ?1 AND state = ?2 AND epoch = ?3")
        .bind(1, id)
        .bind(2, to_string(expected))
        .bind(3, epoch)
        .bind(4, redact(rollout))
        .run();
    const bool applied = db_.changes() == 1;
    auto record = get(id);
    if (!record)
      throw StorageError("deploy #" + std::to_string(id) + " does not exist");
    return TransitionOutcome{applied, std::move(*record)};
  });
}

void DeployStore::set_chat_ref(std::int64_t id, std::string_view chat_ref) {
  db_.prepare("UPDATE deploys SET chat_ref = ?2 WHERE id = ?1").bind(1, id).bind(2, chat_ref).run();
  // A missing deploy here is a caller bug (the id came from create()); saying so beats a no-op.
  if (db_.changes() == 0) {
    throw StorageError("deploy #" + std::to_string(id) + " does not exist");
  }
}

void DeployStore::set_ci_run(std::int64_t id, std::string_view run_id, std::string_view url) {
  db_.prepare("UPDATE deploys SET ci_run_id = ?2, ci_run_url = ?3 WHERE id = ?1")
      .bind(1, id)
      .bind(2, run_id)
      .bind(3, redact(url))
      .run();
  if (db_.changes() == 0) {
    throw StorageError("deploy #" + std::to_string(id) + " does not exist");
  }
}

void DeployStore::link_incident(std::int64_t id, std::string_view incident) {
  db_.prepare("UPDATE deploys SET incident = ?2 WHERE id = ?1")
      .bind(1, id)
      .bind(2, redact(incident))
      .run();
  if (db_.changes() == 0) {
    throw StorageError("deploy #" + std::to_string(id) + " does not exist");
  }
}

std::optional<DeployRecord> DeployStore::get(std::int64_t id) {
  Statement query =
      db_.prepare("SELECT " + std::string(kDeployColumns) + " FROM deploys WHERE id = ?1");
  query.bind(1, id);
  return first_deploy(query);
}

std::vector<DeployRecord> DeployStore::history(std::string_view service,
                                               std::string_view environment, int limit) {
  if (limit <= 0)
    return {};
  Statement query = db_.prepare("SELECT " + std::string(kDeployColumns) +
                                " FROM deploys WHERE service = ?1 AND (?2 = '' OR environment = ?2)"
                                " ORDER BY id DESC LIMIT ?3");
  query.bind(1, service).bind(2, environment).bind(3, static_cast<std::int64_t>(limit));
  return all_deploys(query);
}

std::optional<DeployRecord> DeployStore::last_succeeded(std::string_view service,
                                                        std::string_view environment) {
  // Ordered by finish time: when a rollback finishes after a newer deploy, the rollback is what
  // is running.
  Statement query =
      db_.prepare("SELECT " + std::string(kDeployColumns) +
                  " FROM deploys WHERE service = ?1 AND environment = ?2 AND state = ?3"
                  " ORDER BY finished_at DESC, id DESC LIMIT 1");
  query.bind(1, service).bind(2, environment).bind(3, to_string(DeployState::succeeded));
  return first_deploy(query);
}

std::optional<DeployRecord> DeployStore::last_succeeded_other_than(std::string_view service,
                                                                   std::string_view environment,
                                                                   std::string_view version) {
  Statement query = db_.prepare(
      "SELECT " + std::string(kDeployColumns) +
      " FROM deploys WHERE service = ?1 AND environment = ?2 AND state = ?3 AND version <> ?4"
      " ORDER BY finished_at DESC, id DESC LIMIT 1");
  query.bind(1, service)
      .bind(2, environment)
      .bind(3, to_string(DeployState::succeeded))
      .bind(4, version);
  return first_deploy(query);
}

std::optional<DeployRecord> DeployStore::active_for(std::string_view service,
                                                    std::string_view environment) {
  Statement query = db_.prepare("SELECT " + std::string(kDeployColumns) +
                                " FROM deploys WHERE service = ?1 AND environment = ?2"
                                " AND state IN (" +
                                non_terminal_states() + ") ORDER BY id DESC LIMIT 1");
  query.bind(1, service).bind(2, environment);
  return first_deploy(query);
}

std::vector<DeployRecord> DeployStore::in_flight() {
  Statement query =
      db_.prepare("SELECT " + std::string(kDeployColumns) + " FROM deploys WHERE state IN (" +
                  non_terminal_states() + ") ORDER BY id ASC");
  return all_deploys(query);
}

std::vector<DeployEvent> DeployStore::events(std::int64_t deploy_id) {
  Statement query = db_.prepare(
      "SELECT id, deploy_id, at, from_state, to_state, message FROM deploy_events"
      " WHERE deploy_id = ?1 ORDER BY id ASC");
  query.bind(1, deploy_id);
  std::vector<DeployEvent> out;
  while (query.step()) {
    DeployEvent event;
    event.id = query.column_int64(0);
    event.deploy_id = query.column_int64(1);
    event.at = query.column_int64(2);
    if (!query.column_is_null(3)) {
      event.from = state_from_column(query.column_text(3), deploy_id);
    }
    event.to = state_from_column(query.column_text(4), deploy_id);
    event.message = query.column_text(5);
    out.push_back(std::move(event));
  }
  return out;
}

namespace {

// The filters of a DeploySearch as a WHERE clause over fixed parameters ?1..?7; `extra` adds an
// id bound with ?8.
std::string search_where(std::string_view extra) {
  std::string where =
      " WHERE (?1 = '' OR service = ?1) AND (?2 = '' OR environment = ?2)"
      " AND (?3 = '' OR state = ?3) AND (?4 = '' OR kind = ?4) AND (?5 = '' OR requested_by = ?5)"
      " AND (?6 IS NULL OR requested_at >= ?6) AND (?7 IS NULL OR requested_at < ?7)";
  where += extra;
  return where;
}

void bind_search(Statement& query, const DeploySearch& search) {
  query.bind(1, search.service)
      .bind(2, search.environment)
      .bind(3, search.state)
      .bind(4, search.kind)
      .bind(5, search.requested_by)
      .bind(6, search.since)
      .bind(7, search.until);
}

bool any_matching(Database& db, const DeploySearch& search, std::string_view id_bound,
                  std::int64_t id) {
  Statement query = db.prepare("SELECT 1 FROM deploys" + search_where(id_bound) + " LIMIT 1");
  bind_search(query, search);
  query.bind(8, id);
  return query.step();
}

}  // namespace

DeploySearchPage search_deploys(Database& db, const DeploySearch& search) {
  DeploySearchPage page;
  const std::int64_t limit = std::max(1, search.limit);
  if (search.after_id) {
    Statement query = db.prepare("SELECT " + std::string(kDeployColumns) + " FROM deploys" +
                                 search_where(" AND id > ?8") + " ORDER BY id ASC LIMIT ?9");
    bind_search(query, search);
    query.bind(8, *search.after_id).bind(9, limit);
    page.rows = all_deploys(query);
    std::reverse(page.rows.begin(), page.rows.end());
  } else {
    Statement query =
        db.prepare("SELECT " + std::string(kDeployColumns) + " FROM deploys" +
                   search_where(" AND (?8 IS NULL OR id < ?8)") + " ORDER BY id DESC LIMIT ?9");
    bind_search(query, search);
    query.bind(8, search.before_id).bind(9, limit);
    page.rows = all_deploys(query);
  }
  Statement count = db.prepare("SELECT count(*) FROM deploys" + search_where(""));
  bind_search(count, search);
  if (count.step())
    page.total = count.column_int64(0);
  if (!page.rows.empty()) {
    page.has_older = any_matching(db, search, " AND id < ?8", page.rows.back().id);
    page.has_newer = any_matching(db, search, " AND id > ?8", page.rows.front().id);
  } else if (search.after_id) {
    page.has_older = any_matching(db, search, " AND id <= ?8", *search.after_id);
  } else if (search.before_id) {
    page.has_newer = any_matching(db, search, " AND id >= ?8", *search.before_id);
  }
  return page;
}

std::vector<DeployRecord> deploys_requested_since(Database& db, std::string_view environment,
                                                  EpochMillis since, int limit) {
  Statement query = db.prepare("SELECT " + std::string(kDeployColumns) +
                               " FROM deploys WHERE environment = ?1 AND requested_at >= ?2"
                               " ORDER BY id LIMIT ?3");
  query.bind(1, environment).bind(2, since).bind(3, static_cast<std::int64_t>(limit));
  return all_deploys(query);
}

}  // namespace shipmate::storage
