#include "commands/incident_room_ops.h"

#include <algorithm>

#include <spdlog/spdlog.h>

#include "commands/incident_rooms.h"
#include "commands/incidents.h"
#include "common/rate_limit.h"
#include "common/redact.h"

namespace shipmate::commands {
namespace {

namespace asio = boost::asio;

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::size_t at = 0;
  while (at < text.size()) {
    const std::size_t end = std::min(text.find('\n', at), text.size());
    if (end > at)
      out.push_back(text.substr(at, end - at));
    at = end + 1;
  }
  return out;
}

// What an operation does, as a person reads it in a warning.
std::string what_it_does(const storage::RoomOp& op) {
  if (op.kind == "pin")
    return "pin the summary";
  if (op.kind == "topic")
    return "set the topic";
  if (op.kind == "invite")
    return "invite " + std::to_string(lines_of(op.payload).size()) + " people";
  return op.kind + " the room";
}

// Asks the platform to do `op` once.
asio::awaitable<Status> ask(Services& services, const storage::RoomOp& op) {
  IncidentRooms* rooms = services.incident_rooms;
  if (rooms == nullptr)
    co_return make_error("no chat platform makes rooms here", ErrorKind::invalid);
  std::string room = op.room;
  if (op.kind == "pin") {
    MessageRef ref = op.payload;
    auto pinned = co_await rooms->pin(std::move(room), std::move(ref));
    co_return pinned;
  }
  if (op.kind == "topic") {
    if (services.incidents == nullptr || !services.incidents->get(op.incident_id))
      co_return Ok{};
    std::string topic = current_room_topic(services, op.incident_id);
    auto set = co_await rooms->set_topic(std::move(room), std::move(topic));
    co_return set;
  }
  if (op.kind == "invite") {
    std::vector<std::string> ids = lines_of(op.payload);
    auto invited = co_await rooms->invite(std::move(room), std::move(ids));
    co_return invited;
  }
  co_return make_error("unknown room operation '" + op.kind + "'", ErrorKind::invalid);
}

// One attempt at a recorded operation: claimed first (nothing when it is done or another
// attempt holds it), then asked, then its answer recorded.
asio::awaitable<RoomOpOutcome> attempt(Services& services, storage::RoomOp op) {
  RoomOpOutcome outcome;
  const EpochMillis now = services.clock.now_ms();
  RoomOpPacer* pacer =
      services.incident_rooms != nullptr ? &services.incident_rooms->pacer() : nullptr;
  if (pacer != nullptr) {
    // Not its turn (its channel is held, or its method's calls are spent): moved to when it is,
    // and the caller goes on with the next operation.
    if (const EpochMillis ready = pacer->ready_at(op.room, op.kind, now); ready > now) {
      services.room_ops->defer(op.id, ready, now);
      outcome.later = true;
      co_return outcome;
    }
  }
  if (!services.room_ops->claim(op.id, now, now + kRoomOpLease.count()))
    co_return outcome;
  spend_room_call(services, op.kind, now);
  outcome.ran = true;
  outcome.answer = co_await ask(services, op);
  const EpochMillis at = services.clock.now_ms();
  RoomOpVerdict verdict = judge_room_op(outcome.answer);
  // Rate limited: this channel waits for the time the platform gave; the others go on.
  std::optional<EpochMillis> held_until;
  if (!outcome.answer) {
    if (const auto wait = rate_limit_wait(outcome.answer.error()); wait && pacer != nullptr) {
      held_until = at + wait->count();
      hold_room_calls(services, op.room, op.kind, *held_until, at);
    }
  }
  if (verdict == RoomOpVerdict::retry && op.attempts + 1 >= kRoomOpMostAttempts)
    verdict = RoomOpVerdict::failed;
  switch (verdict) {
    case RoomOpVerdict::done:
      services.room_ops->finish(op.id, "done", "", at);
      break;
    case RoomOpVerdict::retry: {
      outcome.later = true;
      const EpochMillis next = held_until.value_or(room_op_retry_at(op.attempts + 1, at));
      services.room_ops->retry(op.id, next, outcome.answer.error().message);
      spdlog::warn("incidents: {} of {}'s room {} failed ({}); trying again in {}",
                   what_it_does(op), storage::incident_label(op.incident_id), op.room,
                   redact(outcome.answer.error().message), format_duration(next - at));
      break;
    }
    case RoomOpVerdict::failed:
      services.room_ops->finish(op.id, "failed", outcome.answer.error().message, at);
      break;
  }
  co_return outcome;
}

}  // namespace

RoomOpVerdict judge_room_op(const Status& answer) {
  if (answer)
    return RoomOpVerdict::done;
  switch (answer.error().kind) {
    case ErrorKind::unavailable:
    case ErrorKind::tls:
    case ErrorKind::internal:
      return RoomOpVerdict::retry;
    default:
      return RoomOpVerdict::failed;
  }
}

bool keeps_trying_room(const Error& failure, int attempts) {
  return judge_room_op(Status(failure)) == RoomOpVerdict::retry && attempts < kRoomOpMostAttempts;
}

EpochMillis room_op_retry_at(int attempts, EpochMillis now) {
  EpochMillis wait = kRoomOpFirstRetry.count();
  for (int i = 1; i < attempts && wait < kRoomOpLongestRetry.count(); ++i)
    wait *= 2;
  return now + std::min<EpochMillis>(wait, kRoomOpLongestRetry.count());
}

asio::awaitable<RoomOpOutcome> perform_room_op(Services& services, storage::RoomOp op) {
  if (services.room_ops == nullptr) {
    RoomOpOutcome outcome;
    outcome.ran = true;
    outcome.answer = co_await ask(services, op);
    co_return outcome;
  }
  const EpochMillis now = services.clock.now_ms();
  op.created_at = now;
  op.next_at = now;
  storage::RoomOp recorded = services.room_ops->add(op);
  auto outcome = co_await attempt(services, std::move(recorded));
  co_return outcome;
}

void spend_room_call(Services& services, std::string_view kind, EpochMillis now) {
  if (services.incident_rooms == nullptr)
    return;
  const storage::RoomOpPace line = services.incident_rooms->pacer().spend(kind, now);
  if (services.room_ops != nullptr)
    services.room_ops->save_pace(line);
}

void hold_room_calls(Services& services, std::string_view channel, std::string_view kind,
                     EpochMillis until, EpochMillis now) {
  if (services.incident_rooms == nullptr)
    return;
  RoomOpPacer& pacer = services.incident_rooms->pacer();
  const storage::RoomOpPace line =
      channel.empty() ? pacer.hold_kind(kind, until, now) : pacer.hold_channel(channel, until);
  if (services.room_ops != nullptr)
    services.room_ops->save_pace(line);
}

void restore_room_pacing(Services& services) {
  if (services.incident_rooms == nullptr || services.room_ops == nullptr)
    return;
  services.incident_rooms->pacer().restore(
      services.room_ops->paces(services.clock.now_ms(), kRoomOpTiersRefillMs));
}

asio::awaitable<int> retry_room_ops(Services& services) {
  if (services.room_ops == nullptr || services.incidents == nullptr)
    co_return 0;
  const std::vector<storage::RoomOp> due = services.room_ops->due(services.clock.now_ms(), 50);
  int ran = 0;
  RoomOpPacer* pacer =
      services.incident_rooms != nullptr ? &services.incident_rooms->pacer() : nullptr;
  for (const auto& op : due) {
    if (op.kind == "create") {
      // Paced by its method (conversations.create) only: its room is the declaring thread.
      const EpochMillis now = services.clock.now_ms();
      if (pacer != nullptr) {
        if (const EpochMillis ready = pacer->ready_at("", op.kind, now); ready > now) {
          services.room_ops->defer(op.id, ready, now);
          continue;
        }
      }
      // Each create asked spends its call (settle_room in incident_rooms.cpp).
      const bool resumed = co_await resume_incident_room(services, op);
      ran += resumed ? 1 : 0;
      continue;
    }
    const RoomOpOutcome outcome = co_await attempt(services, op);
    if (!outcome.ran)
      continue;
    ++ran;
    if (outcome.answer || outcome.later || services.conversations == nullptr)
      continue;
    if (auto room = services.conversations->open(op.room)) {
      room->post(warning("Shipmate could not " + what_it_does(op) + " (" +
                         redact(outcome.answer.error().message) + ")."));
    }
  }
  co_return ran;
}

}  // namespace shipmate::commands
