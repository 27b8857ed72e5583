#include "bot/incident_rooms.h"

namespace shipmate::bot {
namespace asio = boost::asio;

ChatTransport* TransportRooms::owner(const std::string& address) const {
  for (auto* transport : running_) {
    if (transport->owns(address))
      return transport;
  }
  return nullptr;
}

bool TransportRooms::can_create(const std::string& address) const {
  const ChatTransport* transport = owner(address);
  return transport != nullptr && transport->abilities().create_room;
}

asio::awaitable<Result<commands::OpenedRoom>> TransportRooms::create(std::string from_address,
                                                                     std::string name,
                                                                     bool is_private) {
  ChatTransport* transport = owner(from_address);
  if (transport == nullptr)
    co_return make_error("no running chat platform serves " + from_address);
  auto created = co_await transport->create_room(std::move(name), is_private);
  if (!created)
    co_return created.error();
  commands::OpenedRoom room;
  room.address = *created;
  room.mention = transport->mention(*created);
  co_return room;
}

asio::awaitable<Status> TransportRooms::invite(std::string room,
                                               std::vector<std::string> platform_ids) {
  ChatTransport* transport = owner(room);
  if (transport == nullptr)
    co_return make_error("no running chat platform serves " + room, ErrorKind::unavailable);
  auto invited = co_await transport->invite(std::move(room), std::move(platform_ids));
  co_return invited;
}

asio::awaitable<Status> TransportRooms::set_topic(std::string room, std::string topic) {
  ChatTransport* transport = owner(room);
  if (transport == nullptr)
    co_return make_error("no running chat platform serves " + room, ErrorKind::unavailable);
  auto set = co_await transport->set_topic(std::move(room), std::move(topic));
  co_return set;
}

asio::awaitable<Status> TransportRooms::pin(std::string room, commands::MessageRef ref) {
  ChatTransport* transport = owner(room);
  if (transport == nullptr)
    co_return make_error("no running chat platform serves " + room, ErrorKind::unavailable);
  auto pinned = co_await transport->pin(std::move(room), std::move(ref));
  co_return pinned;
}

asio::awaitable<Result<commands::OpenedRoom>> TransportRooms::find(std::string from_address,
                                                                   std::string name) {
  ChatTransport* transport = owner(from_address);
  if (transport == nullptr)
    co_return make_error("no running chat platform serves " + from_address, ErrorKind::unavailable);
  std::string channel = "#" + name;
  auto found = co_await transport->resolve_channel(std::move(channel));
  if (!found) {
    co_return make_error(found.error().message, found.error().kind == ErrorKind::unavailable
                                                    ? ErrorKind::unavailable
                                                    : ErrorKind::not_found);
  }
  std::string address = *found;
  auto origin = co_await transport->room_origin(std::move(address));
  if (!origin)
    co_return origin.error();
  commands::OpenedRoom room;
  room.address = *found;
  room.mention = transport->mention(*found);
  room.made_by_shipmate = origin->made_by_me;
  room.created_at = origin->created_at;
  co_return room;
}

bool TransportRooms::can_archive(const std::string& room) const {
  const ChatTransport* transport = owner(room);
  return transport != nullptr && transport->abilities().archive_room;
}

asio::awaitable<Status> TransportRooms::archive(std::string room) {
  ChatTransport* transport = owner(room);
  // Its platform is not running now (reconnecting, or not configured this time): try later.
  if (transport == nullptr)
    co_return make_error("no running chat platform serves " + room, ErrorKind::unavailable);
  auto archived = co_await transport->archive_room(std::move(room));
  co_return archived;
}

asio::awaitable<Result<std::string>> resolve_channel_address(
    const std::vector<ChatTransport*>& running, std::string address) {
  const auto colon = address.find(':');
  if (colon == std::string::npos || colon + 1 >= address.size() || address[colon + 1] != '#')
    co_return address;
  for (auto* transport : running) {
    if (!transport->owns(address))
      continue;
    std::string name = address.substr(colon + 1);
    auto found = co_await transport->resolve_channel(std::move(name));
    if (!found)
      co_return make_error(address + ": " + found.error().message, found.error().kind);
    co_return *found;
  }
  co_return make_error(
      address + ": no running chat platform is called '" + address.substr(0, colon) + "'",
      ErrorKind::invalid);
}

}  // namespace shipmate::bot
