// Incident rooms over the running chat transports: commands::IncidentRooms (commands/
// incident_rooms.h) answered by the workspace abilities of whichever ChatTransport owns an
// address (bot/chat_transport.h). Nothing here names a platform.
//
// Contract: event-loop thread only. `running` is the App's list of started transports; it must
// outlive this object, and a transport that is not in it (not started, or stopped) serves
// nothing: create() answers an Error and can_create() false. Errors are the transports' own
// (ErrorKind::conflict for a taken name, ErrorKind::auth with the scope a platform needs).
#pragma once

#include <string>
#include <vector>

#include "bot/chat_transport.h"
#include "commands/incident_rooms.h"

namespace shipmate::bot {

class TransportRooms final : public commands::IncidentRooms {
 public:
  explicit TransportRooms(const std::vector<ChatTransport*>& running) : running_(running) {}

  bool can_create(const std::string& address) const override;
  boost::asio::awaitable<Result<commands::OpenedRoom>> create(std::string from_address,
                                                              std::string name,
                                                              bool is_private) override;
  boost::asio::awaitable<Status> invite(std::string room,
                                        std::vector<std::string> platform_ids) override;
  boost::asio::awaitable<Status> set_topic(std::string room, std::string topic) override;
  boost::asio::awaitable<Status> pin(std::string room, commands::MessageRef ref) override;
  bool can_archive(const std::string& room) const override;
  boost::asio::awaitable<Status> archive(std::string room) override;
  boost::asio::awaitable<Result<commands::OpenedRoom>> find(std::string from_address,
                                                            std::string name) override;

 private:
  ChatTransport* owner(const std::string& address) const;
  const std::vector<ChatTransport*>& running_;
};

// "slack:#incidents" (a platform, then a channel name) -> "slack:C…" through that platform's
// resolve_channel; any other address is returned as it is. The error says which name could not
// be found and why.
boost::asio::awaitable<Result<std::string>> resolve_channel_address(
    const std::vector<ChatTransport*>& running, std::string address);

}  // namespace shipmate::bot
