#include "bot/slack/slack_workspace.h"

#include <boost/json.hpp>
#include <cctype>

#include "bot/slack/web_api.h"
#include "common/strings.h"
#include "integrations/net/http_client.h"

namespace shipmate::bot::slack {
namespace asio = boost::asio;

namespace {

// A refused Web API call (missing_scope, not_allowed_token_type, ...) says which scopes the app
// needs for it, so the person reading the fallback warning knows what to add.
Error needing_scopes(Error error, std::string_view scopes) {
  if (error.kind == ErrorKind::auth)
    error.message += " (the Slack app needs the " + std::string(scopes) + " scope)";
  return error;
}

}  // namespace

std::pair<std::string, std::string> split_slack_address(const std::string& address) {
  if (address.rfind("slack:", 0) != 0)
    return {};
  const std::string rest = address.substr(6);
  const auto colon = rest.find(':');
  return {rest.substr(0, colon), colon == std::string::npos ? "" : rest.substr(colon + 1)};
}

std::string SlackWorkspace::mention(const std::string& room_address) {
  auto [channel, thread] = split_slack_address(room_address);
  return channel.empty() ? room_address : "<#" + channel + ">";
}

asio::awaitable<Result<std::string>> SlackWorkspace::resolve_channel(std::string channel_name) {
  std::string name = channel_name;
  if (name.starts_with('#'))
    name.erase(0, 1);
  for (auto& c : name)
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (name.empty() || name.size() > 80)
    co_return make_error("'" + channel_name + "' is not a Slack channel name", ErrorKind::invalid);
  if (auto known = channel_ids_.find(name); known != channel_ids_.end())
    co_return "slack:" + known->second;
  const std::string not_visible = "no Slack channel named #" + name +
                                  " is visible to Shipmate (check the name; for a private "
                                  "channel, invite the app first)";
  const EpochMillis interval_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(relist_interval_).count();
  const EpochMillis started_at = clock_.now_ms();
  if (last_full_listing_ && started_at - *last_full_listing_ < interval_ms) {
    const EpochMillis ago_s = (started_at - *last_full_listing_) / 1000;
    co_return make_error(not_visible + "; Slack's channels were listed " + std::to_string(ago_s) +
                             " s ago and are listed again at most once every " +
                             std::to_string(relist_interval_.count()) +
                             " s, so a channel made since then is found after that",
                         ErrorKind::not_found);
  }
  // conversations.list, page by page (Slack's cursor), public and private channels the app can
  // see; every name seen is remembered.
  std::string cursor;
  for (int page = 0; page < 100; ++page) {
    using integrations::net::form_encode;
    std::string form = "types=public_channel%2Cprivate_channel&exclude_archived=true&limit=200";
    if (!cursor.empty())
      form += "&cursor=" + form_encode(cursor);
    std::string method = "conversations.list";
    auto listed = co_await web_.call_form(std::move(method), std::move(form));
    if (!listed)
      co_return make_error("could not look up Slack channel #" + name + ": " +
                               listed.error().message +
                               (listed.error().kind == ErrorKind::auth
                                    ? " (the Slack app needs the channels:read and groups:read "
                                      "scopes)"
                                    : ""),
                           listed.error().kind);
    boost::system::error_code ec;
    auto value = boost::json::parse(listed->body, ec);
    if (ec || !value.is_object())
      co_return make_error("conversations.list: the answer is not a JSON object");
    const auto& root = value.as_object();
    if (const auto* channels = root.if_contains("channels"); channels && channels->is_array()) {
      for (const auto& channel : channels->as_array()) {
        if (!channel.is_object())
          continue;
        const auto* id = channel.as_object().if_contains("id");
        const auto* seen = channel.as_object().if_contains("name");
        if (id && id->is_string() && seen && seen->is_string())
          channel_ids_[std::string(seen->as_string())] = std::string(id->as_string());
      }
    }
    if (auto known = channel_ids_.find(name); known != channel_ids_.end())
      co_return "slack:" + known->second;
    cursor.clear();
    if (const auto* meta = root.if_contains("response_metadata"); meta && meta->is_object()) {
      if (const auto* next = meta->as_object().if_contains("next_cursor");
          next && next->is_string())
        cursor = std::string(next->as_string());
    }
    if (cursor.empty()) {
      last_full_listing_ = clock_.now_ms();
      break;
    }
  }
  co_return make_error(not_visible, ErrorKind::not_found);
}

asio::awaitable<Result<std::string>> SlackWorkspace::create_room(std::string room_name,
                                                                 bool is_private) {
  std::string name = room_name;
  auto created = co_await web_.create_channel(std::move(room_name), is_private);
  if (!created)
    co_return needing_scopes(created.error(), is_private ? "groups:write" : "channels:manage");
  channel_ids_[name] = *created;
  co_return "slack:" + *created;
}

asio::awaitable<Status> SlackWorkspace::invite(std::string room_address,
                                               std::vector<std::string> user_ids) {
  auto [channel, thread] = split_slack_address(room_address);
  if (channel.empty())
    co_return make_error("'" + room_address + "' is not a Slack channel address");
  auto invited = co_await web_.invite(std::move(channel), std::move(user_ids));
  if (!invited)
    co_return needing_scopes(invited.error(), "channels:manage");
  co_return Ok{};
}

asio::awaitable<Status> SlackWorkspace::pin(std::string room_address, commands::MessageRef ref) {
  auto [channel, thread] = split_slack_address(room_address);
  if (channel.empty())
    co_return make_error("'" + room_address + "' is not a Slack channel address");
  // The message may still be queued: its ts is known once the queue has posted it.
  co_await web_.drain();
  const auto ts = web_.ts_of(std::stoull(ref));
  if (!ts)
    co_return make_error("the message to pin was never posted");
  std::string body = "{\"channel\":";
  append_json_string(body, channel);
  body += ",\"timestamp\":";
  append_json_string(body, *ts);
  body += '}';
  std::string method = "pins.add";
  auto pinned = co_await web_.call_unheld(std::move(method), std::move(body));
  if (!pinned && pinned.error().message.ends_with("already_pinned"))
    co_return Ok{};
  if (!pinned)
    co_return needing_scopes(pinned.error(), "pins:write");
  co_return Ok{};
}

asio::awaitable<Status> SlackWorkspace::set_topic(std::string room_address, std::string topic) {
  auto [channel, thread] = split_slack_address(room_address);
  if (channel.empty())
    co_return make_error("'" + room_address + "' is not a Slack channel address");
  std::string body = "{\"channel\":";
  append_json_string(body, channel);
  body += ",\"topic\":";
  append_json_string(body, topic);
  body += '}';
  std::string method = "conversations.setTopic";
  auto set = co_await web_.call_unheld(std::move(method), std::move(body));
  if (!set)
    co_return needing_scopes(set.error(), "channels:manage");
  co_return Ok{};
}

asio::awaitable<Status> SlackWorkspace::archive_room(std::string room_address) {
  auto [channel, thread] = split_slack_address(room_address);
  if (channel.empty())
    co_return make_error("'" + room_address + "' is not a Slack channel address");
  std::string body = "{\"channel\":";
  append_json_string(body, channel);
  body += '}';
  std::string method = "conversations.archive";
  auto archived = co_await web_.call(std::move(method), std::move(body));
  if (!archived && archived.error().message.ends_with("already_archived"))
    co_return Ok{};
  if (!archived)
    co_return needing_scopes(archived.error(), "channels:manage (groups:write for a private room)");
  co_return Ok{};
}

asio::awaitable<Result<RoomOrigin>> SlackWorkspace::room_origin(std::string room_address,
                                                                std::string bot_user_id) {
  auto [channel, thread] = split_slack_address(room_address);
  if (channel.empty())
    co_return make_error("'" + room_address + "' is not a Slack channel address");
  std::string form = "channel=" + integrations::net::form_encode(channel);
  std::string method = "conversations.info";
  auto info = co_await web_.call_form(std::move(method), std::move(form));
  if (!info)
    co_return needing_scopes(info.error(), "channels:read and groups:read");
  boost::system::error_code ec;
  auto value = boost::json::parse(info->body, ec);
  const boost::json::object* found = nullptr;
  if (!ec && value.is_object()) {
    if (const auto* object = value.as_object().if_contains("channel");
        object && object->is_object())
      found = &object->as_object();
  }
  if (found == nullptr)
    co_return make_error("conversations.info: the answer has no channel object",
                         ErrorKind::unavailable);
  RoomOrigin origin;
  if (const auto* creator = found->if_contains("creator"); creator && creator->is_string())
    origin.made_by_me = !bot_user_id.empty() && creator->as_string() == bot_user_id;
  if (const auto* created = found->if_contains("created"); created && created->is_int64())
    origin.created_at = created->as_int64() * 1000;
  co_return origin;
}

asio::awaitable<Result<std::string>> SlackWorkspace::read_message_text(std::string channel,
                                                                       std::string ts) {
  using integrations::net::form_encode;
  std::string form =
      "channel=" + form_encode(channel) + "&latest=" + form_encode(ts) + "&inclusive=true&limit=1";
  std::string method = "conversations.history";
  auto read = co_await web_.call_form(std::move(method), std::move(form));
  if (!read)
    co_return needing_scopes(read.error(), "channels:history");
  boost::system::error_code ec;
  auto value = boost::json::parse(read->body, ec);
  const boost::json::array* messages = nullptr;
  if (!ec && value.is_object()) {
    if (auto* found = value.as_object().if_contains("messages"); found && found->is_array())
      messages = &found->as_array();
  }
  if (messages != nullptr && !messages->empty() && messages->front().is_object()) {
    const auto& message = messages->front().as_object();
    const auto* at = message.if_contains("ts");
    const auto* text = message.if_contains("text");
    if (at && at->is_string() && at->as_string() == ts && text && text->is_string() &&
        !text->as_string().empty())
      co_return std::string(text->as_string());
  }
  co_return make_error("a thread reply, or deleted", ErrorKind::not_found);
}

}  // namespace shipmate::bot::slack
