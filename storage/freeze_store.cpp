#include "storage/freeze_store.h"

#include "common/redact.h"

namespace shipmate::storage {
namespace {

constexpr std::string_view kSelect =
    "SELECT id, environment, starts_at, ends_at, reason, created_by, created_at FROM freezes ";

FreezeRecord read_freeze(const Statement& row) {
  return FreezeRecord{row.column_int64(0),          row.column_text(1), row.column_int64(2),
                      row.column_optional_int64(3), row.column_text(4), row.column_text(5),
                      row.column_int64(6)};
}

}  // namespace

FreezeRecord FreezeStore::add(std::string_view environment, EpochMillis starts_at,
                              std::optional<EpochMillis> ends_at, std::string_view reason,
                              std::string_view created_by) {
  FreezeRecord out{0,
                   std::string(environment),
                   starts_at,
                   ends_at,
                   redact(reason),
                   std::string(created_by),
                   clock_.now_ms()};
  out.id = db_.prepare(
                  "INSERT INTO freezes (environment, starts_at, ends_at, reason, created_by, "
                  "created_at) "
                  "VALUES (?1, ?2, ?3, ?4, ?5, ?6) RETURNING id")
               .bind(1, out.environment)
               .bind(2, out.starts_at)
               .bind(3, out.ends_at)
               .bind(4, out.reason)
               .bind(5, out.created_by)
               .bind(6, out.created_at)
               .scalar();
  return out;
}

std::vector<FreezeRecord> FreezeStore::lift(std::string_view environment,
                                            std::string_view lifted_by) {
  return db_.transaction([&] {
    auto lifted = current_and_coming(environment);
    for (const auto& freeze : lifted) {
      db_.prepare("UPDATE freezes SET lifted_at = ?2, lifted_by = ?3 WHERE id = ?1")
          .bind(1, freeze.id)
          .bind(2, clock_.now_ms())
          .bind(3, lifted_by)
          .run();
    }
    return lifted;
  });
}

std::vector<FreezeRecord> FreezeStore::current_and_coming(std::string_view environment) {
  auto query = db_.prepare(std::string(kSelect) +
                           "WHERE lifted_at IS NULL AND (ends_at IS NULL OR ends_at > ?1) "
                           "AND (?2 = '' OR environment = ?2) ORDER BY starts_at, id");
  query.bind(1, clock_.now_ms()).bind(2, environment);
  std::vector<FreezeRecord> out;
  while (query.step())
    out.push_back(read_freeze(query));
  return out;
}

std::optional<FreezeRecord> FreezeStore::in_force(std::string_view environment) {
  auto query = db_.prepare(
      std::string(kSelect) +
      "WHERE lifted_at IS NULL AND environment = ?2 AND starts_at <= ?1 "
      "AND (ends_at IS NULL OR ends_at > ?1) ORDER BY ends_at IS NULL DESC, ends_at DESC LIMIT 1");
  query.bind(1, clock_.now_ms()).bind(2, environment);
  if (!query.step())
    return std::nullopt;
  return read_freeze(query);
}

}  // namespace shipmate::storage
