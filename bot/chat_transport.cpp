#include "bot/chat_transport.h"

namespace shipmate::bot {
namespace asio = boost::asio;

Error ChatTransport::unsupported(std::string_view ability) const {
  return make_error(std::string(name()) + " cannot " + std::string(ability) +
                    "; Shipmate carries on in the conversation's thread instead");
}

asio::awaitable<Result<std::string>> ChatTransport::resolve_channel(std::string) {
  co_return unsupported("look up channels by name");
}

asio::awaitable<Result<std::string>> ChatTransport::create_room(std::string, bool) {
  co_return unsupported_create_room();
}

Error ChatTransport::unsupported_create_room() const {
  return unsupported("create rooms");
}

asio::awaitable<Status> ChatTransport::invite(std::string, std::vector<std::string>) {
  co_return unsupported("invite people");
}

asio::awaitable<Status> ChatTransport::pin(std::string, commands::MessageRef) {
  co_return unsupported("pin messages");
}

asio::awaitable<Status> ChatTransport::set_topic(std::string, std::string) {
  co_return unsupported("set a topic");
}

asio::awaitable<Status> ChatTransport::archive_room(std::string) {
  co_return unsupported("archive a room");
}

asio::awaitable<Result<RoomOrigin>> ChatTransport::room_origin(std::string) {
  co_return unsupported("tell who made a room");
}

asio::awaitable<RoomOrThread> room_or_thread(ChatTransport& transport, std::string room_name,
                                             bool is_private, std::string thread_address) {
  RoomOrThread out;
  out.address = thread_address;
  if (!transport.abilities().create_room) {
    out.fallback = transport.unsupported_create_room().message;
    co_return out;
  }
  auto created = co_await transport.create_room(std::move(room_name), is_private);
  if (!created) {
    out.fallback = created.error().message;
    co_return out;
  }
  out.address = *created;
  out.room = true;
  co_return out;
}

}  // namespace shipmate::bot
