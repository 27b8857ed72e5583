// The App's database at start-up and in its readiness check, and `shipmate audit verify`
// (bot/app.h), kept apart from the App's wiring.
//
// Contract
// - open_app_database(): opens (and on SQLite creates the directory of) the configured database
//   and claims it as its sole writer, retrying the claim for up to 5 s so that a Shipmate that
//   has just exited can let go; a second Shipmate is refused with an Error naming the database.
//   Blocking; called on the main thread before the event loop runs.
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
