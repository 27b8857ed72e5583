// Conversation references: what a chat platform needs, beyond a conversation's address, to post
// into it later without being asked first (proactive messages).
//
// Teams answers a conversation through the connector at the service URL its activities came from;
// after a restart, an approval, a lock expiry or a deploy finishing must still know that URL. A
// transport saves a reference each time it sees a conversation whose reference is new or changed
// (after verifying the request), and loads its platform's references at start.
//
// Contract: threading and errors as in database.h (StorageError on SQLite failures). Nothing
// secret is stored: ids and URLs only.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/clock.h"
#include "storage/database.h"

namespace shipmate::storage {

struct ConversationRef {
  std::string platform;           // "teams"
  std::string conversation_id;    // the platform's id, exactly as delivered
  std::string service_url;        // where to call to post into it
  std::string tenant_id;          // the workspace / tenant
  std::string conversation_type;  // "personal", "groupChat", "channel"
  std::string bot_id;             // the bot's id in that conversation ("28:<app id>")
  EpochMillis updated_at = 0;
};

class ConversationRefStore {
 public:
  ConversationRefStore(Database& db, const Clock& clock) : db_(db), clock_(clock) {}

  // Inserts or replaces the reference for (platform, conversation_id); stamps updated_at.
  void save(const ConversationRef& ref);
  std::optional<ConversationRef> get(std::string_view platform, std::string_view conversation_id);
  // Every reference of `platform`, most recently updated first.
  std::vector<ConversationRef> list(std::string_view platform);

 private:
  Database& db_;
  const Clock& clock_;
};

}  // namespace shipmate::storage
