// The floor under the Slack path's CPU per command at one command in flight: a minimal program
// that makes the same system calls the bot makes per command (bench/README.md, "Where the CPU
// goes at one in flight"), with almost no code of its own around them.
//
// Two processes on loopback TCP, as the bot and shipmate_slack_bench are:
// - the "fake" (parent) writes a 1 KB envelope on the first connection, reads the ack from it and
//   a ~600-byte HTTP request from the second connection, answers the request with a ~300-byte HTTP
//   response and, right behind it, the next envelope (the bench's closed loop does the same);
// - the "bot" (child) waits in epoll_wait for both sockets, reads the HTTP answer and the
//   envelope (recvmsg, plus one that finds nothing, as Asio's speculative reads do), writes three
//   4 KB WAL frames with one pwrite, takes and drops an OFD lock (two fcntl: the read mark after
//   each commit), writes the ack (sendmsg) and the HTTP request (sendmsg), and waits again.
// The child's utime+stime over the window, divided by the commands, is the floor: what the
// kernel charges for those calls and the two wake-ups, with no SQLite, JSON or Asio above them.
//
// Usage: shipmate_syscall_floor [--commands N] [--warmup N]
// Exits 0 after printing the child's CPU per command (user, system, total) and a JSON line.
// Threading: one thread per process. Errors: any failed call prints its name and exits 1.
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>

namespace {

[[noreturn]] void die(const char* what) {
  std::fprintf(stderr, "shipmate_syscall_floor: %s: %s\n", what, std::strerror(errno));
  std::exit(1);
}

void write_all(int fd, const std::string& data) {
  std::size_t sent = 0;
  while (sent < data.size()) {
    const ssize_t n = ::send(fd, data.data() + sent, data.size() - sent, MSG_NOSIGNAL);
    if (n <= 0)
      die("send");
    sent += static_cast<std::size_t>(n);
  }
}

// Reads exactly `size` bytes (blocking socket).
void read_exactly(int fd, char* buffer, std::size_t size) {
  std::size_t got = 0;
  while (got < size) {
    const ssize_t n = ::recv(fd, buffer + got, size - got, 0);
    if (n <= 0)
      die("recv");
    got += static_cast<std::size_t>(n);
  }
}

int connect_to(int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<std::uint16_t>(port));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (fd < 0 || ::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0)
    die("connect");
  const int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return fd;
}

double seconds_of(const timeval& t) {
  return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) / 1e6;
}

// The bot's side: runs `total` commands; after `warmup` of them it records its own CPU and,
// at the end, writes the CPU of the window to `report` (user and system seconds).
void run_bot(int envelopes, int http, int total, int warmup, int report) {
  char path[] = "/tmp/shipmate-floor-XXXXXX";
  const int wal = ::mkstemp(path);
  if (wal < 0)
    die("mkstemp");
  ::unlink(path);
  const int epoll = ::epoll_create1(0);
  for (int fd : {envelopes, http}) {
    ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
    epoll_event event{};
    event.events = EPOLLIN | EPOLLET;
    event.data.fd = fd;
    if (::epoll_ctl(epoll, EPOLL_CTL_ADD, fd, &event) != 0)
      die("epoll_ctl");
  }
  const std::string ack = R"({"envelope_id":"00000000-0000-0000-0000-000000000000"})";
  const std::string request =
      "POST /api/chat.postMessage HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer "
      "xoxb-floor\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: 400\r\n\r\n" +
      std::string(400, 'x');
  std::string frames(3 * (4096 + 24), 'w');
  char buffer[65536];
  rusage start{};
  off_t offset = 0;
  for (int command = 0; command < total; ++command) {
    if (command == warmup)
      ::getrusage(RUSAGE_SELF, &start);
    // Wait for the envelope (and, after the first, the HTTP answer that came with it).
    std::size_t envelope_bytes = 0;
    while (envelope_bytes < 1024) {
      epoll_event events[4];
      if (::epoll_wait(epoll, events, 4, -1) < 0 && errno != EINTR)
        die("epoll_wait");
      if (command > 0)
        (void)::recv(http, buffer, sizeof buffer, 0);
      for (;;) {
        const ssize_t n = ::recv(envelopes, buffer, sizeof buffer, 0);
        if (n <= 0)
          break;  // the speculative read that finds nothing, as Asio's
        envelope_bytes += static_cast<std::size_t>(n);
      }
    }
    // The commit: one write of the WAL frames, then the read mark's lock up and down.
    if (::pwrite(wal, frames.data(), frames.size(), offset) < 0)
      die("pwrite");
    offset = (offset + static_cast<off_t>(frames.size())) % (16 << 20);
    struct flock lock {};
    lock.l_type = F_WRLCK;
    lock.l_whence = SEEK_SET;
    lock.l_start = 120;
    lock.l_len = 1;
    if (::fcntl(wal, F_OFD_SETLK, &lock) != 0)
      die("fcntl");
    lock.l_type = F_RDLCK;
    if (::fcntl(wal, F_OFD_SETLK, &lock) != 0)
      die("fcntl");
    write_all(envelopes, ack);
    write_all(http, request);
  }
  rusage end{};
  ::getrusage(RUSAGE_SELF, &end);
  const double times[2] = {seconds_of(end.ru_utime) - seconds_of(start.ru_utime),
                           seconds_of(end.ru_stime) - seconds_of(start.ru_stime)};
  if (::write(report, times, sizeof times) != sizeof times)
    die("write report");
}

}  // namespace

int main(int argc, char** argv) {
  int commands = 20000;
  int warmup = 2000;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string_view option = argv[i];
    if (option == "--commands")
      commands = std::atoi(argv[i + 1]);
    else if (option == "--warmup")
      warmup = std::atoi(argv[i + 1]);
    else {
      std::fprintf(stderr, "usage: shipmate_syscall_floor [--commands N] [--warmup N]\n");
      return 2;
    }
  }
  const int listener = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof address;
  if (::bind(listener, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 ||
      ::listen(listener, 4) != 0 ||
      ::getsockname(listener, reinterpret_cast<sockaddr*>(&address), &length) != 0)
    die("listen");
  const int port = ntohs(address.sin_port);
  int report[2];
  if (::pipe(report) != 0)
    die("pipe");
  const int total = warmup + commands;
  const pid_t child = ::fork();
  if (child == 0) {
    ::close(listener);
    const int envelopes = connect_to(port);
    const int http = connect_to(port);
    run_bot(envelopes, http, total, warmup, report[1]);
    std::_Exit(0);
  }
  const int envelopes = ::accept(listener, nullptr, nullptr);
  const int http = ::accept(listener, nullptr, nullptr);
  if (envelopes < 0 || http < 0)
    die("accept");
  const int one = 1;
  ::setsockopt(envelopes, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  ::setsockopt(http, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  const std::string envelope(1024, 'e');
  const std::string response =
      "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 200\r\n\r\n" +
      std::string(200, 'r');
  char buffer[65536];
  const std::size_t ack_size =
      std::strlen(R"({"envelope_id":"00000000-0000-0000-0000-000000000000"})");
  const std::size_t request_size =
      std::strlen(
          "POST /api/chat.postMessage HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer "
          "xoxb-floor\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: "
          "400\r\n\r\n") +
      400;
  write_all(envelopes, envelope);
  for (int command = 0; command < total; ++command) {
    read_exactly(envelopes, buffer, ack_size);
    read_exactly(http, buffer, request_size);
    write_all(http, response);
    if (command + 1 < total)
      write_all(envelopes, envelope);
  }
  double times[2] = {0, 0};
  ::close(report[1]);
  if (::read(report[0], times, sizeof times) != sizeof times)
    die("read report");
  int status = 0;
  ::waitpid(child, &status, 0);
  const double user_us = times[0] * 1e6 / commands;
  const double system_us = times[1] * 1e6 / commands;
  std::printf("commands %d (after %d of warm-up)\n", commands, warmup);
  std::printf("floor CPU per command: user %.1f us, system %.1f us, total %.1f us\n", user_us,
              system_us, user_us + system_us);
  std::printf("{\"commands\":%d,\"user_us\":%.2f,\"system_us\":%.2f,\"total_us\":%.2f}\n", commands,
              user_us, system_us, user_us + system_us);
  return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : 1;
}
