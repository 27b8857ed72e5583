#include "storage/conversation_refs.h"

namespace shipmate::storage {
namespace {

constexpr std::string_view kColumns =
    "platform, conversation_id, service_url, tenant_id, conversation_type, bot_id, updated_at";

ConversationRef read_ref(const Statement& row) {
  ConversationRef ref;
  ref.platform = row.column_text(0);
  ref.conversation_id = row.column_text(1);
  ref.service_url = row.column_text(2);
  ref.tenant_id = row.column_text(3);
  ref.conversation_type = row.column_text(4);
  ref.bot_id = row.column_text(5);
  ref.updated_at = row.column_int64(6);
  return ref;
}

}  // namespace

void ConversationRefStore::save(const ConversationRef& ref) {
  auto statement = db_.prepare(
      "INSERT INTO conversation_refs (" + std::string(kColumns) +
      ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT (platform, conversation_id) DO UPDATE SET "
      "service_url = excluded.service_url, tenant_id = excluded.tenant_id, "
      "conversation_type = excluded.conversation_type, bot_id = excluded.bot_id, "
      "updated_at = excluded.updated_at");
  statement.bind(1, ref.platform)
      .bind(2, ref.conversation_id)
      .bind(3, ref.service_url)
      .bind(4, ref.tenant_id)
      .bind(5, ref.conversation_type)
      .bind(6, ref.bot_id)
      .bind(7, clock_.now_ms());
  statement.run();
}

std::optional<ConversationRef> ConversationRefStore::get(std::string_view platform,
                                                         std::string_view conversation_id) {
  auto statement = db_.prepare("SELECT " + std::string(kColumns) +
                               " FROM conversation_refs WHERE platform = ?1 AND "
                               "conversation_id = ?2");
  statement.bind(1, platform).bind(2, conversation_id);
  if (!statement.step())
    return std::nullopt;
  return read_ref(statement);
}

std::vector<ConversationRef> ConversationRefStore::list(std::string_view platform) {
  auto statement = db_.prepare("SELECT " + std::string(kColumns) +
                               " FROM conversation_refs WHERE platform = ?1 "
                               "ORDER BY updated_at DESC, conversation_id");
  statement.bind(1, platform);
  std::vector<ConversationRef> refs;
  while (statement.step())
    refs.push_back(read_ref(statement));
  return refs;
}

}  // namespace shipmate::storage
