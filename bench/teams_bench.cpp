// The Teams path under load: the real `shipmate serve` binary (a child process) joins Teams
// against the fake Bot Framework auth (OpenID metadata, JWKS, token endpoint) and the fake
// connector from tests/support, and is driven closed-loop with "ping" activities POSTed to
// /api/messages with RS256 tokens the fake signed.
//
// Each of --in-flight workers sends one activity, waits for both answers, then sends the next:
//   inbound answer  POST written -> the HTTP answer (202) read back
//   reply           POST written -> the connector receiving the reply threaded on that activity
// Activities rotate over --conversations conversations so that Teams' per-thread pacing (7 per
// second per thread) does not throttle the measurement; a real tenant spreads over threads too.
// Warm-up activities run first; the measured window covers the rest. The bot's CPU comes from
// /proc/<pid>/stat over the window, its peak RSS from VmHWM.
//
// Run: build-release/bench/shipmate_teams_bench [--activities N] [--in-flight N]
//      [--conversations N] [--warmup N] [--keep-alive 1: each worker keeps one connection open
//      instead of opening one per activity] [--memory 1: where the bot's resident memory lives]
//      [--long-ids 1: conversation ids as long as real Teams ones, about 120 characters]
//      [--shipmate PATH: another bot binary, e.g. the build before a change for alternating runs,
//      or a wrapper that runs it under valgrind]
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <boost/json.hpp>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <mutex>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "tests/support/fake_bot_framework_auth.h"
#include "tests/support/fake_teams.h"
#include "tests/support/test_support.h"

namespace {

using namespace shipmate::testing;
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

double process_cpu_seconds(pid_t pid) {
  std::ifstream file("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  std::getline(file, line);
  const auto close = line.rfind(')');
  if (close == std::string::npos)
    return 0;
  std::istringstream rest(line.substr(close + 2));
  std::string skipped;
  for (int field = 3; field <= 13; ++field)
    rest >> skipped;
  unsigned long long utime = 0;
  unsigned long long stime = 0;
  rest >> utime >> stime;
  return static_cast<double>(utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

long status_kb(pid_t pid, const std::string& name) {
  std::ifstream file("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(file, line)) {
    if (line.starts_with(name + ":"))
      return std::atol(line.c_str() + name.size() + 1);
  }
  return 0;
}

// Where a process's resident memory lives: /proc/<pid>/smaps summed by mapping kind (the binary,
// each shared library, the heap, anonymous mappings such as thread stacks and malloc arenas),
// largest first, and the thread count.
void print_memory(pid_t pid) {
  std::ifstream smaps("/proc/" + std::to_string(pid) + "/smaps");
  std::map<std::string, std::pair<long, int>> by_name;  // name -> (Rss kB, mappings)
  std::string line;
  std::string current;
  while (std::getline(smaps, line)) {
    const auto colon = line.find(':');
    const bool field = colon != std::string::npos && line.find(' ') > colon;
    if (!field) {  // a mapping's header: address perms offset dev inode [path]
      std::istringstream header(line);
      std::string address, perms, offset, device, inode, path;
      header >> address >> perms >> offset >> device >> inode;
      std::getline(header >> std::ws, path);
      current = path.empty() ? "[anonymous]" : path.substr(path.rfind('/') + 1);
      ++by_name[current].second;
    } else if (line.starts_with("Rss:")) {
      by_name[current].first += std::atol(line.c_str() + 4);
    }
  }
  std::vector<std::pair<long, std::string>> sorted;
  for (const auto& [name, totals] : by_name)
    sorted.emplace_back(totals.first, name + " (" + std::to_string(totals.second) + " mappings)");
  std::sort(sorted.rbegin(), sorted.rend());
  std::printf("resident memory by mapping (kB), threads %ld, VmRSS %ld kB:\n",
              status_kb(pid, "Threads"), status_kb(pid, "VmRSS"));
  for (std::size_t i = 0; i < sorted.size() && i < 60; ++i)
    std::printf("  %7ld  %s\n", sorted[i].first, sorted[i].second.c_str());
  std::ifstream rollup("/proc/" + std::to_string(pid) + "/smaps_rollup");
  while (std::getline(rollup, line)) {
    if (line.starts_with("Rss") || line.starts_with("Pss_") || line.starts_with("Anonymous") ||
        line.starts_with("Private_") || line.starts_with("Shared_"))
      std::printf("  %s\n", line.c_str());
  }
}

double percentile(std::vector<double> values, double p) {
  if (values.empty())
    return 0;
  std::sort(values.begin(), values.end());
  const auto index = static_cast<std::size_t>(p * static_cast<double>(values.size() - 1));
  return values[index];
}

struct Options {
  int activities = 3000;
  int in_flight = 1;
  int conversations = 1000;
  int warmup = 300;
  bool keep_alive = false;  // one kept-alive connection per worker instead of one per activity
  bool memory = false;      // print where the bot's resident memory lives at the window's end
  bool long_ids = false;    // conversation ids as long as Teams' own (about 120 characters)
  std::string shipmate;     // the bot binary (or a wrapper running it); empty: the one built here
};

Options parse(int argc, char** argv) {
  Options options;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    const int value = std::atoi(argv[i + 1]);
    if (flag == "--shipmate")
      options.shipmate = argv[i + 1];
    else if (flag == "--activities")
      options.activities = value;
    else if (flag == "--in-flight")
      options.in_flight = std::max(1, value);
    else if (flag == "--conversations")
      options.conversations = std::max(1, value);
    else if (flag == "--warmup")
      options.warmup = value;
    else if (flag == "--keep-alive")
      options.keep_alive = value != 0;
    else if (flag == "--memory")
      options.memory = value != 0;
    else if (flag == "--long-ids")
      options.long_ids = value != 0;
    else {
      std::fprintf(stderr, "unknown flag %s\n", flag.c_str());
      std::exit(64);
    }
  }
  return options;
}

// A conversation's id: short ("a:bench-7"), or as long as a Teams personal chat's ("a:1" and
// about 117 more characters, stable per conversation), which is what the inbox's and the outbox's
// keys carry (`teams:message:<conversation>:<activity>`).
std::string conversation_id(int conversation, bool long_ids) {
  std::string id = "a:bench-" + std::to_string(conversation);
  if (!long_ids)
    return id;
  static constexpr std::string_view kAlphabet =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string out = "a:1";
  std::uint64_t state = 0x9E3779B97F4A7C15ULL * static_cast<std::uint64_t>(conversation + 1);
  while (out.size() + id.size() < 128) {
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    out += kAlphabet[state % kAlphabet.size()];
  }
  return out + id.substr(1);
}

// One HTTP/1.1 connection to the bot, kept alive across requests (a worker's own); reconnects
// once when the bot closed it. Answers only what the bench needs: the status code.
class KeptConnection {
 public:
  explicit KeptConnection(int port) : port_(port) {}
  ~KeptConnection() { drop(); }
  std::optional<int> post(const std::string& path, const std::vector<std::string>& headers,
                          const std::string& body) {
    std::string request = "POST " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\n";
    for (const auto& header : headers)
      request += header + "\r\n";
    request += "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
    for (int attempt = 0; attempt < 2; ++attempt) {
      if (fd_ < 0 && !open())
        return std::nullopt;
      if (auto status = exchange(request))
        return status;
      drop();
    }
    return std::nullopt;
  }

 private:
  bool open() {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    if (fd_ < 0)
      return false;
    timeval timeout{10, 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
    int one = 1;
    ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(static_cast<uint16_t>(port_));
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
      drop();
      return false;
    }
    return true;
  }
  void drop() {
    if (fd_ >= 0)
      ::close(fd_);
    fd_ = -1;
    buffer_.clear();
  }
  std::optional<int> exchange(const std::string& request) {
    if (::send(fd_, request.data(), request.size(), MSG_NOSIGNAL) !=
        static_cast<ssize_t>(request.size()))
      return std::nullopt;
    std::size_t head_end;
    while ((head_end = buffer_.find("\r\n\r\n")) == std::string::npos) {
      if (!fill())
        return std::nullopt;
    }
    const std::string head = buffer_.substr(0, head_end);
    std::size_t length = 0;
    for (const char* name : {"Content-Length:", "content-length:"}) {
      if (const auto at = head.find(name); at != std::string::npos)
        length = static_cast<std::size_t>(std::atol(head.c_str() + at + std::strlen(name)));
    }
    while (buffer_.size() < head_end + 4 + length) {
      if (!fill())
        return std::nullopt;
    }
    buffer_.erase(0, head_end + 4 + length);
    const int status = head.size() > 12 ? std::atoi(head.c_str() + 9) : 0;
    if (head.find("Connection: close") != std::string::npos ||
        head.find("connection: close") != std::string::npos)
      drop();
    return status;
  }
  bool fill() {
    char chunk[4096];
    const ssize_t n = ::recv(fd_, chunk, sizeof chunk, 0);
    if (n <= 0)
      return false;
    buffer_.append(chunk, static_cast<std::size_t>(n));
    return true;
  }
  int port_;
  int fd_ = -1;
  std::string buffer_;
};

// What a worker waits for: the connector seeing the reply to its current activity.
struct Slot {
  std::mutex mutex;
  std::condition_variable replied;
  std::string waiting_for;
  Clock::time_point reply_at{};
};

}  // namespace

int main(int argc, char** argv) {
  const Options options = parse(argc, argv);
  TempDir dir;
  FakeBotFrameworkAuth auth;
  FakeTeamsConnector connector;
  const int bot_port = free_port();
  write_file(dir.file("shipmate.yaml"), R"(shipmate:
  database: state/shipmate.db
  state_dir: state/run
environments:
  - name: staging
users:
  - {id: alice, roles: [developer]}
services:
  - name: hello
    target:
      kind: local
      releases: )" + source_dir() + R"(/examples/hello/releases
      start: [python3, server.py]
      ports: {staging: )" + std::to_string(free_port()) +
                                            "}\n");

  std::vector<std::unique_ptr<Slot>> slots;
  for (int i = 0; i < options.in_flight; ++i)
    slots.push_back(std::make_unique<Slot>());
  connector.on_activity([&](const ConnectorActivity& activity) {
    // Activity ids are "w<worker>-<n>".
    const std::string& to = activity.reply_to_id;
    if (to.size() < 2 || to[0] != 'w')
      return;
    const int worker = std::atoi(to.c_str() + 1);
    if (worker < 0 || worker >= static_cast<int>(slots.size()))
      return;
    Slot& slot = *slots[worker];
    std::lock_guard lock(slot.mutex);
    if (slot.waiting_for == to) {
      slot.reply_at = Clock::now();
      slot.waiting_for.clear();
      slot.replied.notify_one();
    }
  });

  const std::string binary = options.shipmate.empty() ? shipmate_binary() : options.shipmate;
  Subprocess shipmate({binary, "--log-level", "warn", "serve", "--no-terminal", "--config",
                       dir.file("shipmate.yaml")},
                      {{"MicrosoftAppId", auth.options().app_id},
                       {"MicrosoftAppPassword", auth.options().app_password},
                       {"BOTFRAMEWORK_OPENID_METADATA_URL", auth.openid_metadata_url()},
                       {"BOTFRAMEWORK_LOGIN_URL", auth.login_url()},
                       {"PORT", std::to_string(bot_port)}});
  // Wait for the listener.
  for (int i = 0; i < 600 && !http_post(bot_port, "/api/messages", {}, "{}", 100ms); ++i)
    std::this_thread::sleep_for(50ms);

  FakeBotFrameworkAuth::TokenSpec spec;
  spec.service_url = connector.service_url();
  const std::string authorization = "Authorization: Bearer " + auth.mint(spec);

  std::atomic<int> next{0};
  std::atomic<int> failures{0};
  std::mutex results_mutex;
  std::vector<double> inbound_ms;
  std::vector<double> reply_ms;
  const int total = options.warmup + options.activities;
  std::atomic<int> warm_done{0};
  Clock::time_point window_start{};
  double cpu_start = 0;
  std::mutex window_mutex;
  bool window_open = false;

  auto worker = [&](int index) {
    Slot& slot = *slots[index];
    KeptConnection kept(bot_port);
    int n = 0;
    while (true) {
      const int sequence = next.fetch_add(1);
      if (sequence >= total)
        return;
      if (sequence == options.warmup) {
        // Every warm-up activity has been handed out; wait for them to finish before measuring.
        while (warm_done.load() < options.warmup)
          std::this_thread::sleep_for(1ms);
        std::lock_guard lock(window_mutex);
        window_start = Clock::now();
        cpu_start = process_cpu_seconds(shipmate.pid());
        window_open = true;
      }
      const std::string id = "w" + std::to_string(index) + "-" + std::to_string(n++);
      boost::json::object activity{
          {"type", "message"},
          {"id", id},
          {"channelId", "msteams"},
          {"serviceUrl", connector.service_url()},
          {"from", {{"id", "29:bench"}, {"aadObjectId", "00000000-0000-0000-0000-00000000beef"}}},
          {"recipient", {{"id", "28:" + auth.options().app_id}}},
          {"conversation",
           {{"id", conversation_id(sequence % options.conversations, options.long_ids)},
            {"conversationType", "personal"}}},
          {"text", "<at>Shipmate</at> ping"}};
      {
        std::lock_guard lock(slot.mutex);
        slot.waiting_for = id;
      }
      const auto sent = Clock::now();
      const std::vector<std::string> headers = {authorization, "Content-Type: application/json"};
      const std::string body = boost::json::serialize(activity);
      std::optional<int> status;
      if (options.keep_alive) {
        status = kept.post("/api/messages", headers, body);
      } else if (auto answer = http_post(bot_port, "/api/messages", headers, body, 10s)) {
        status = answer->status;
      }
      const auto answered = Clock::now();
      bool ok = status && *status == 202;
      Clock::time_point reply_at{};
      {
        std::unique_lock lock(slot.mutex);
        ok = ok && slot.replied.wait_for(lock, 10s, [&] { return slot.waiting_for.empty(); });
        reply_at = slot.reply_at;
      }
      if (!ok)
        failures.fetch_add(1);
      if (sequence < options.warmup) {
        warm_done.fetch_add(1);
        continue;
      }
      std::lock_guard lock(results_mutex);
      inbound_ms.push_back(std::chrono::duration<double, std::milli>(answered - sent).count());
      if (ok)
        reply_ms.push_back(std::chrono::duration<double, std::milli>(reply_at - sent).count());
    }
  };
  std::vector<std::thread> workers;
  for (int i = 0; i < options.in_flight; ++i)
    workers.emplace_back(worker, i);
  for (auto& thread : workers)
    thread.join();
  const auto window_end = Clock::now();
  const double cpu_end = process_cpu_seconds(shipmate.pid());
  const long peak_rss_kb = status_kb(shipmate.pid(), "VmHWM");
  if (options.memory)
    print_memory(shipmate.pid());
  shipmate.send_signal(SIGTERM);
  shipmate.wait(30s);

  const double seconds = std::chrono::duration<double>(window_end - window_start).count();
  const double measured = static_cast<double>(inbound_ms.size());
  std::printf("teams bench: %d activities (+%d warm-up), %d in flight, %d conversations, %s\n",
              options.activities, options.warmup, options.in_flight, options.conversations,
              options.keep_alive ? "one kept-alive connection per worker"
                                 : "a new connection per activity");
  std::printf("throughput         %.0f activities/s\n", measured / seconds);
  std::printf("inbound answer     p50 %.2f ms  p99 %.2f ms\n", percentile(inbound_ms, 0.50),
              percentile(inbound_ms, 0.99));
  std::printf("reply at connector p50 %.2f ms  p99 %.2f ms\n", percentile(reply_ms, 0.50),
              percentile(reply_ms, 0.99));
  std::printf("shipmate           CPU %.1f us/activity, peak RSS %.1f MB\n",
              1e6 * (cpu_end - cpu_start) / measured, static_cast<double>(peak_rss_kb) / 1024.0);
  std::printf("failures           %d\n", failures.load());
  std::printf(
      "{\"in_flight\":%d,\"activities_per_s\":%.0f,\"inbound_p50_ms\":%.3f,\"inbound_p99_ms\":%.3f,"
      "\"reply_p50_ms\":%.3f,\"reply_p99_ms\":%.3f,\"cpu_us_per_activity\":%.1f,"
      "\"peak_rss_kb\":%ld,\"failures\":%d}\n",
      options.in_flight, measured / seconds, percentile(inbound_ms, 0.50),
      percentile(inbound_ms, 0.99), percentile(reply_ms, 0.50), percentile(reply_ms, 0.99),
      1e6 * (cpu_end - cpu_start) / measured, peak_rss_kb, failures.load());
  return failures.load() == 0 ? 0 : 1;
}
