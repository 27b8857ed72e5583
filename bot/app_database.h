// The App's database at start-up and in its readiness check, and `shipmate audit verify`
// (bot/app.h), kept apart from the App's wiring.
//
// Contract
// - open_app_database(): opens (and on SQLite creates the directory of) the configured database.
//   On SQLite the file lock refuses a second Shipmate; on PostgreSQL several may share it, each
//   as a replica holding its own lease (bot/replica.h, claimed by the App next). Blocking; called
//   on the main thread before the event loop runs.
// - database_write_problem(): whether a write transaction can begin now ("" when it can, else one
//   line for /readyz). Event-loop thread; never throws.
#pragma once

#include <memory>
#include <string>

#include "bot/config.h"
#include "common/result.h"
#include "storage/database.h"

namespace shipmate::bot {

Result<std::unique_ptr<storage::Database>> open_app_database(const Config& config);

std::string database_write_problem(storage::Database& database);

}  // namespace shipmate::bot
