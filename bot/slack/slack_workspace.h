// The Slack workspace, as incidents and reactions see it: find a channel by name, make a room,
// invite people into it, pin a message, set its topic, archive it, and read back the message a
// reaction was added to. These are the optional ChatTransport abilities (bot/chat_transport.h);
// SlackTransport owns one SlackWorkspace and forwards them here, keeping the connections apart
// from the calls that only go through the Web API.
//
// Contract
// - Threading: every call runs on the event loop the WebApi runs on; nothing here is locked.
// - Ownership: holds the WebApi and the Clock by reference; both must outlive it. A caller that
//   may be destroyed while a call is suspended keeps the owner alive (SlackTransport's calls hold
//   its shared Impl).
// - State: only the channel-name cache (every name conversations.list or create_room showed,
//   with its id) and when the last full listing ended. resolve_channel lists again at most once
//   per `relist_interval` after a full pass that missed the name (time from `clock`).
// - Errors: Result/Status, never exceptions. A refused call (missing_scope, not_in_channel, ...)
//   keeps its ErrorKind and names the scope the app needs for it; an address that is not
//   "slack:<channel>[:<ts>]" is an Error naming the address. `already_pinned` and
//   `already_archived` count as done.
#pragma once

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <boost/asio/awaitable.hpp>

#include "bot/chat_transport.h"
#include "commands/reply.h"
#include "common/clock.h"
#include "common/result.h"

namespace shipmate::bot::slack {

class WebApi;

// "slack:<channel>[:<thread ts>]" -> channel and thread; an empty channel when malformed.
std::pair<std::string, std::string> split_slack_address(const std::string& address);

class SlackWorkspace {
 public:
  SlackWorkspace(WebApi& web, const Clock& clock, std::chrono::seconds relist_interval)
      : web_(web), clock_(clock), relist_interval_(relist_interval) {}
  SlackWorkspace(const SlackWorkspace&) = delete;
  SlackWorkspace& operator=(const SlackWorkspace&) = delete;

  // "#deploys", "deploys", "Deploys" -> "slack:C…". A name seen before answers from the cache;
  // otherwise conversations.list (public and private channels, cursor pages of 200, up to 100
  // pages), remembering every name seen. A refused listing names channels:read and
  // groups:read; a name still missing is ErrorKind::not_found (and says when it will be listed
  // again if that is not now).
  boost::asio::awaitable<Result<std::string>> resolve_channel(std::string channel_name);
  // conversations.create; the new room's name is remembered for resolve_channel.
  boost::asio::awaitable<Result<std::string>> create_room(std::string room_name, bool is_private);
  boost::asio::awaitable<Status> invite(std::string room_address,
                                        std::vector<std::string> user_ids);
  // invite, pin and set_topic do not wait out a 429: it comes back at once as
  // rate_limited_error() (common/rate_limit.h), for the room-operation queue to pace.
  // Waits for the Web API queue to post the message first (its ts is known only then).
  boost::asio::awaitable<Status> pin(std::string room_address, commands::MessageRef ref);
  boost::asio::awaitable<Status> set_topic(std::string room_address, std::string topic);
  boost::asio::awaitable<Status> archive_room(std::string room_address);
  // conversations.info: the channel's `creator` (`made_by_me` when it is `bot_user_id`) and
  // `created` (Unix seconds, as ms).
  boost::asio::awaitable<Result<RoomOrigin>> room_origin(std::string room_address,
                                                         std::string bot_user_id);
  // The text of the top-level message at `ts` in `channel` (conversations.history, one message,
  // inclusive). The error says, for a person, why it could not be read.
  boost::asio::awaitable<Result<std::string>> read_message_text(std::string channel,
                                                                std::string ts);
  // "<#C…>" for a room address (Slack renders it as a link), the address itself when malformed.
  static std::string mention(const std::string& room_address);

 private:
  WebApi& web_;
  const Clock& clock_;
  std::chrono::seconds relist_interval_;
  std::map<std::string, std::string, std::less<>> channel_ids_;  // name -> id
  // When the last full conversations.list pass (every page, the name not among them) ended.
  std::optional<EpochMillis> last_full_listing_;
};

}  // namespace shipmate::bot::slack
