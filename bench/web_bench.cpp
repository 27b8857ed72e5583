// The web view over 10,000 deploys: the shipmate binary (a child process) serving the pages from
// a database seeded before it starts, measured two ways.
//
// 1. Server: each page GET over loopback at 1 and 32 requests in flight (one connection per
//    request), pages per second and latency p50/p99, with the page's size.
// 2. Browser: headless Chromium (Debian's chromium) driven over the DevTools protocol on a real
//    socket (its /json/list, then the page target's WebSocket): Page.navigate, wait for
//    Page.loadEventFired, then read the Navigation Timing entry (start to loadEventEnd) and
//    count the table rows and charts, so each load is known to be complete. Median and max of
//    --loads loads per page. Missing chromium is an error, not a skip.
//
//   shipmate_web_bench [--deploys 10000] [--requests 300] [--loads 7]
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <sys/time.h>
#include <algorithm>
#include <atomic>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>
#include <boost/json.hpp>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <thread>

#include "common/clock.h"
#include "integrations/net/websocket_client.h"
#include "storage/database.h"
#include "storage/deploy_store.h"
#include "tests/support/test_support.h"

using namespace shipmate;
using namespace shipmate::testing;
using SteadyClock = std::chrono::steady_clock;

namespace {

constexpr EpochMillis kHour = 3600LL * 1000;

struct Options {
  int deploys = 10'000;
  int requests = 300;
  int loads = 7;
};

Options parse(int argc, char** argv) {
  Options options;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    auto next = [&]() -> int {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "%s needs a value\n", arg.c_str());
        std::exit(64);
      }
      return std::atoi(argv[++i]);
    };
    if (arg == "--deploys")
      options.deploys = next();
    else if (arg == "--requests")
      options.requests = next();
    else if (arg == "--loads")
      options.loads = next();
    else {
      std::fprintf(stderr, "usage: shipmate_web_bench [--deploys N] [--requests N] [--loads N]\n");
      std::exit(64);
    }
  }
  return options;
}

void seed(const std::string& path, int count) {
  auto opened = storage::Database::open(path);
  if (!opened) {
    std::fprintf(stderr, "%s\n", opened.error().message.c_str());
    std::exit(1);
  }
  auto& db = **opened;
  ManualClock clock(SystemClock().now_ms() - 12 * 7 * 24 * kHour);
  storage::DeployStore deploys(db, clock);
  // Spread over the 12 weeks before now, each deploy taking a minute.
  const EpochMillis step = (12 * 7 * 24 * kHour - (count + 1) * 60'000LL) / count;
  db.transaction([&] {
    for (int i = 1; i <= count; ++i) {
      clock.advance_ms(step);
      storage::NewDeploy request{
          i % 2 ? "hello" : "api",
          i % 3 == 0 ? "production" : "staging",
          "v" + std::to_string(i),
          "v" + std::to_string(i - 1),
          i % 17 == 0 ? storage::DeployKind::rollback : storage::DeployKind::deploy,
          i % 5 ? "alice" : "bob",
          "routine release with a reason of ordinary length",
          "",
          clock.now_ms() - 5 * kHour,
          ""};
      const auto created = deploys.create(request);
      clock.advance_ms(60'000);
      deploys.transition(created.id,
                         i % 11 == 0   ? storage::DeployState::failed
                         : i % 13 == 0 ? storage::DeployState::rolled_back
                                       : storage::DeployState::succeeded,
                         "done");
    }
  });
}

// One GET on a fresh connection; the response size, or -1.
long get_once(int port, const std::string& path) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return -1;
  }
  const std::string request =
      "GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
  (void)!::write(fd, request.data(), request.size());
  long total = 0;
  char buffer[65536];
  bool ok = false;
  for (ssize_t n; (n = ::read(fd, buffer, sizeof buffer)) > 0;) {
    if (total == 0)
      ok = std::strncmp(buffer, "HTTP/1.1 200", 12) == 0;
    total += n;
  }
  ::close(fd);
  return ok ? total : -1;
}

// GET from Chromium's DevTools HTTP endpoint, whose headers have no space after the colon: the
// body, read up to its Content-Length; "" on failure.
std::string devtools_get(int port, const std::string& path) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  timeval timeout{2, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return "";
  }
  // Chromium builds the webSocketDebuggerUrl from the Host header: give it the port.
  const std::string request =
      "GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1:" + std::to_string(port) + "\r\n\r\n";
  (void)!::write(fd, request.data(), request.size());
  std::string answer;
  char buffer[65536];
  for (ssize_t n; (n = ::read(fd, buffer, sizeof buffer)) > 0;) {
    answer.append(buffer, static_cast<std::size_t>(n));
    const auto end = answer.find("\r\n\r\n");
    if (end == std::string::npos)
      continue;
    std::string head = answer.substr(0, end);
    std::transform(head.begin(), head.end(), head.begin(), ::tolower);
    const auto at = head.find("content-length:");
    if (at != std::string::npos &&
        answer.size() >= end + 4 + std::strtoul(head.c_str() + at + 15, nullptr, 10)) {
      ::close(fd);
      return answer.substr(end + 4);
    }
  }
  ::close(fd);
  return "";
}

double percentile(std::vector<double> values, double p) {
  if (values.empty())
    return 0;
  std::sort(values.begin(), values.end());
  const auto index = static_cast<std::size_t>(p * static_cast<double>(values.size() - 1));
  return values[index];
}

void measure_server(int port, const std::string& path, int requests, int in_flight) {
  std::vector<double> latencies;
  std::mutex mutex;
  std::atomic<int> next{0};
  std::atomic<long> bytes{0};
  std::atomic<int> failures{0};
  const auto start = SteadyClock::now();
  std::vector<std::thread> workers;
  for (int w = 0; w < in_flight; ++w) {
    workers.emplace_back([&] {
      std::vector<double> mine;
      while (next.fetch_add(1) < requests) {
        const auto t0 = SteadyClock::now();
        const long size = get_once(port, path);
        mine.push_back(std::chrono::duration<double, std::milli>(SteadyClock::now() - t0).count());
        if (size < 0)
          ++failures;
        else
          bytes = size;
      }
      std::lock_guard lock(mutex);
      latencies.insert(latencies.end(), mine.begin(), mine.end());
    });
  }
  for (auto& worker : workers)
    worker.join();
  const double seconds = std::chrono::duration<double>(SteadyClock::now() - start).count();
  std::printf("  %-46s %2d in flight: %7.1f pages/s  p50 %7.2f ms  p99 %7.2f ms  %7ld bytes%s\n",
              path.c_str(), in_flight, requests / seconds, percentile(latencies, 0.5),
              percentile(latencies, 0.99), bytes.load(),
              failures ? ("  FAILED " + std::to_string(failures.load())).c_str() : "");
}

// The DevTools session: one page target, commands with ids, events read in between.
struct DevTools {
  std::unique_ptr<integrations::net::WebSocketConnection> ws;
  int next_id = 1;

  // Arguments by reference to the caller's named locals (GCC 12: no temporaries in a co_await
  // call's arguments).
  boost::asio::awaitable<boost::json::object> call(const std::string& method,
                                                   const boost::json::object& params,
                                                   const std::string& wait_event) {
    const int id = next_id++;
    boost::json::object message{{"id", id}, {"method", method}, {"params", params}};
    std::string text_out = boost::json::serialize(message);
    auto sent = co_await ws->send(std::move(text_out));
    if (!sent)
      throw std::runtime_error("devtools send: " + sent.error().message);
    boost::json::object result;
    bool have_result = false;
    bool have_event = wait_event.empty();
    while (!have_result || !have_event) {
      auto text = co_await ws->read();
      if (!text)
        throw std::runtime_error("devtools read: " + text.error().message);
      auto value = boost::json::parse(*text).as_object();
      if (value.contains("id") && value.at("id").as_int64() == id) {
        if (value.contains("error"))
          throw std::runtime_error("devtools: " + boost::json::serialize(value.at("error")));
        result = value.at("result").as_object();
        have_result = true;
      } else if (!wait_event.empty() && value.contains("method") &&
                 value.at("method").as_string() == wait_event) {
        have_event = true;
      }
    }
    co_return result;
  }
};

boost::asio::awaitable<void> browse(boost::asio::any_io_executor executor, std::string ws_url,
                                    int port, std::vector<std::string> paths, int loads) {
  integrations::net::WebSocketOptions options;
  options.max_frame_bytes = 64 * 1024 * 1024;
  options.proxy = "";
  auto connected =
      co_await integrations::net::connect_websocket(std::move(executor), ws_url, options);
  if (!connected)
    throw std::runtime_error("devtools connect: " + connected.error().message);
  DevTools tools{std::move(*connected)};
  const std::string enable = "Page.enable", navigate = "Page.navigate",
                    evaluate = "Runtime.evaluate", loaded = "Page.loadEventFired", none;
  const boost::json::object no_params;
  const boost::json::object blank{{"url", "about:blank"}};
  const boost::json::object probe{
      {"expression",
       "JSON.stringify({d: performance.getEntriesByType('navigation')[0].loadEventEnd, "
       "rows: document.querySelectorAll('tbody tr').length, "
       "charts: document.querySelectorAll('svg.chart').length, "
       "footer: !!document.querySelector('footer')})"},
      {"returnByValue", true}};
  co_await tools.call(enable, no_params, none);
  for (const auto& path : paths) {
    const boost::json::object target{{"url", "http://127.0.0.1:" + std::to_string(port) + path}};
    std::vector<double> durations, wall;
    long rows = 0, charts = 0;
    for (int i = 0; i < loads; ++i) {
      co_await tools.call(navigate, blank, loaded);
      const auto t0 = SteadyClock::now();
      co_await tools.call(navigate, target, loaded);
      wall.push_back(std::chrono::duration<double, std::milli>(SteadyClock::now() - t0).count());
      auto timing = co_await tools.call(evaluate, probe, none);
      auto parsed =
          boost::json::parse(std::string(timing.at("result").at("value").as_string())).as_object();
      durations.push_back(parsed.at("d").to_number<double>());
      rows = parsed.at("rows").to_number<long>();
      charts = parsed.at("charts").to_number<long>();
      if (!parsed.at("footer").as_bool())
        throw std::runtime_error(path + " loaded without its footer: incomplete");
    }
    std::printf(
        "  %-46s load (navigation start to loadEventEnd) median %7.1f ms, max %7.1f ms; "
        "navigate-to-load-event median %7.1f ms; %ld table rows, %ld charts\n",
        path.c_str(), percentile(durations, 0.5), percentile(durations, 1.0), percentile(wall, 0.5),
        rows, charts);
  }
  co_await tools.ws->close();
}

}  // namespace

int main(int argc, char** argv) {
  const Options options = parse(argc, argv);
  TempDir dir;
  std::filesystem::create_directories(dir.file("state"));
  const auto seed_start = SteadyClock::now();
  seed(dir.file("state/shipmate.db"), options.deploys);
  std::printf("seeded %d deploys in %.1f s\n", options.deploys,
              std::chrono::duration<double>(SteadyClock::now() - seed_start).count());
  const int port = free_port();
  write_file(
      dir.file("shipmate.yaml"),
      R"(shipmate:
  database: state/shipmate.db
  state_dir: state/run
ops:
  port: )" +
          std::to_string(port) + R"(
  web: {}
environments:
  - name: staging
  - name: production
    production: true
users:
  - {id: alice, roles: [sre]}
services:
  - name: hello
    target: {kind: local, releases: )" +
          source_dir() +
          R"(/examples/hello/releases, start: [python3, server.py], ports: {staging: )" +
          std::to_string(free_port()) + ", production: " + std::to_string(free_port()) + R"(}}
  - name: api
    target: {kind: local, releases: )" +
          source_dir() +
          R"(/examples/hello/releases, start: [python3, server.py], ports: {staging: )" +
          std::to_string(free_port()) + ", production: " + std::to_string(free_port()) + "}}\n");
  Subprocess shipmate({shipmate_binary(), "--log-level", "info", "serve", "--no-terminal",
                       "--config", dir.file("shipmate.yaml")});
  if (!shipmate.wait_for_output("web view: http://", std::chrono::seconds(30))) {
    std::fprintf(stderr, "shipmate did not start:\n%s\n", shipmate.output().c_str());
    return 1;
  }
  const std::vector<std::string> paths = {"/",
                                          "/deploys",
                                          "/deploys?limit=500",
                                          "/deploys?environment=production&state=failed",
                                          "/deploys?before=5000",
                                          "/dora",
                                          "/dora?weeks=52"};
  std::printf("server (%s):\n", shipmate_binary().c_str());
  for (const int in_flight : {1, 32}) {
    for (const auto& path : paths)
      measure_server(port, path, options.requests, in_flight);
  }

  const char* chromium = "/usr/bin/chromium";
  if (::access(chromium, X_OK) != 0) {
    std::fprintf(stderr, "chromium is not installed (apt-get install chromium)\n");
    return 1;
  }
  TempDir profile;
  Subprocess browser({chromium, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                      "--disable-dev-shm-usage", "--remote-debugging-port=0",
                      "--user-data-dir=" + profile.path(), "about:blank"});
  if (!browser.wait_for_output("DevTools listening on ws://", std::chrono::seconds(60))) {
    std::fprintf(stderr, "chromium did not open DevTools:\n%s\n", browser.output().c_str());
    return 1;
  }
  const std::string& out = browser.output();
  const auto at = out.find("ws://127.0.0.1:") + std::strlen("ws://127.0.0.1:");
  const int devtools_port = std::atoi(out.c_str() + at);
  std::string page_ws;
  for (int attempt = 0; attempt < 100 && page_ws.empty(); ++attempt) {
    const std::string list = devtools_get(devtools_port, "/json/list");
    if (!list.empty()) {
      const boost::json::value targets = boost::json::parse(list);
      for (const auto& target : targets.as_array()) {
        if (target.at("type").as_string() == "page")
          page_ws = std::string(target.at("webSocketDebuggerUrl").as_string());
      }
    }
    if (page_ws.empty())
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  if (page_ws.empty()) {
    std::fprintf(stderr, "no page target in chromium's /json/list\n");
    return 1;
  }
  std::printf("chromium (%d loads per page, DevTools at %s):\n", options.loads, page_ws.c_str());
  boost::asio::io_context io;
  auto done = boost::asio::co_spawn(
      io, browse(io.get_executor(), page_ws, port, paths, options.loads), boost::asio::use_future);
  io.run();
  try {
    done.get();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "chromium: %s\n", e.what());
    return 1;
  }
  return 0;
}
