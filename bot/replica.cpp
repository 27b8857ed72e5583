#include "bot/replica.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cctype>
#include <optional>

#include "common/redact.h"
#include "common/timer.h"
#include "storage/database.h"
#include "storage/deploy_ownership.h"

namespace shipmate::bot {

storage::LeaseTiming replica_lease_timing(EpochMillis duration_ms) {
  return storage::LeaseTiming{duration_ms, std::max<EpochMillis>(duration_ms / 3, 1),
                              duration_ms / 5};
}

EpochMillis replica_takeover_grace(EpochMillis duration_ms) {
  return duration_ms / 5;
}

Result<std::string> replica_name(const std::string& configured, bool postgresql,
                                 const char* from_environment) {
  std::string name = from_environment != nullptr && *from_environment != '\0'
                         ? std::string(from_environment)
                         : configured;
  if (!postgresql) {
    if (!name.empty()) {
      return make_error("replica " + name +
                        ": several replicas need a PostgreSQL database; an SQLite file serves one "
                        "Shipmate (unset SHIPMATE_REPLICA, or use database: postgresql://...)");
    }
    return std::string();
  }
  if (name.empty())
    return std::string("default");
  const bool clean =
      name.size() <= 64 && std::all_of(name.begin(), name.end(), [](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.';
      });
  if (!clean)
    return make_error("replica name must be 1-64 letters, digits, '.', '-' or '_'");
  return name;
}

ReplicaLease::ReplicaLease(storage::Database& db, const Clock& clock, std::string name,
                           storage::LeaseTiming timing)
    : db_(db),
      clock_(clock),
      name_(std::move(name)),
      lease_(storage::replica_lease_name(name_)),
      timing_(timing),
      keeper_(timing) {}

Status ReplicaLease::claim(const std::function<void(std::chrono::milliseconds)>& sleep) {
  storage::LeaseStore leases(db_);
  // The end of the holder's lease as first seen: a dead holder's never moves, a live one's moves
  // at its next renewal.
  std::optional<EpochMillis> first_end;
  const EpochMillis give_up = clock_.now_ms() + timing_.duration_ms + timing_.renew_every_ms;
  try {
    while (true) {
      const EpochMillis now = clock_.now_ms();
      if (auto epoch = leases.acquire(lease_, name_, now, timing_.duration_ms)) {
        keeper_.granted(now, *epoch);
        spdlog::info("replica {}: lease taken (epoch {})", name_, *epoch);
        return Ok{};
      }
      const auto held = leases.get(lease_);
      if (!held)
        continue;  // released between the two statements: ask again
      if (!first_end)
        first_end = held->expires_at;
      if (held->expires_at != *first_end || now >= give_up) {
        return make_error("another Shipmate is using it as replica " + name_ +
                          " (it keeps renewing its lease); give each replica its own name "
                          "(shipmate: replica:, or SHIPMATE_REPLICA)");
      }
      const EpochMillis left = std::clamp<EpochMillis>(held->expires_at - now + 1, 1, 250);
      sleep(std::chrono::milliseconds(left));
    }
  } catch (const std::exception& failure) {
    return make_error("replica " + name_ + ": cannot take its lease: " + failure.what());
  }
}

boost::asio::awaitable<void> ReplicaLease::keep(Timers& timers, std::function<void()> on_held,
                                                std::function<void(std::string)> on_lost) {
  storage::LeaseStore leases(db_);
  while (!stopped_) {
    const auto due = keeper_.next_at();
    if (!due)
      break;
    const EpochMillis wait = std::max<EpochMillis>(*due - clock_.now_ms(), 0);
    const bool slept = co_await timers.sleep_for(std::chrono::milliseconds(wait));
    if (!slept || stopped_)
      co_return;
    const EpochMillis sent = clock_.now_ms();
    if (keeper_.next(sent) == storage::LeaseKeeper::Step::renew) {
      try {
        if (leases.renew(lease_, name_, *keeper_.epoch(), sent, timing_.duration_ms))
          keeper_.granted(sent, *keeper_.epoch());
        else
          keeper_.refused(sent);
      } catch (const std::exception& failure) {
        spdlog::warn("replica {}: could not renew its lease: {}", name_, failure.what());
        keeper_.failed(sent);
      }
    }
    if (keeper_.lost(clock_.now_ms()))
      break;
    if (on_held) {
      // A failure there (the database out of reach) must not end the renewals: they are what
      // notices the lease lapsing.
      try {
        on_held();
      } catch (const std::exception& failure) {
        spdlog::warn("replica {}: could not look for dead replicas' work: {}", name_,
                     redact(failure.what()));
      }
    }
  }
  if (stopped_)
    co_return;
  const std::string why = "replica " + name_ + " lost its lease (epoch " +
                          std::to_string(keeper_.epoch().value_or(0)) +
                          "): another replica may have taken its work over";
  spdlog::error("{}", why);
  if (on_lost)
    on_lost(why);
}

bool ReplicaLease::release() {
  stopped_ = true;
  const auto epoch = keeper_.epoch();
  if (!epoch)
    return false;
  try {
    return storage::LeaseStore(db_).release(lease_, name_, *epoch);
  } catch (const std::exception& failure) {
    spdlog::warn("replica {}: could not release its lease: {}", name_, failure.what());
    return false;
  }
}

}  // namespace shipmate::bot
