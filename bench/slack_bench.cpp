// The Slack path under load: the real `shipmate serve` binary against a minimal fake Slack on
// loopback, driven closed-loop with `ping` mentions.
//
// This process hosts the fake (Web API + Socket Mode on one port, one thread) and drives it; the
// bot runs as a child process, so its CPU time and memory can be read from /proc on their own.
// Everything is measured from the fake's side of the sockets:
//   ack latency    envelope frame handed to the socket -> its {"envelope_id":...} ack read back
//   reply latency  envelope frame handed to the socket -> chat.postMessage with
//                  thread_ts = the mention's ts read back
// A command is complete when both have arrived; each completion sends the next command, so
// exactly --in-flight commands are outstanding. Warm-up commands run and drain first; the
// measured window starts with an idle bot and ends when the last measured command completes.
//
// --rate N measures in an open loop instead: the measured commands are sent on a fixed schedule,
// command k of the window at start + k/N seconds, whatever the answers do, and both latencies
// count from that SCHEDULED time, so a bot that falls behind is charged for the wait of every
// command queued behind (no coordinated omission). The run fails when more than
// --max-outstanding commands are unanswered at once or the achieved rate (commands over the
// window) falls below 95% of N. Warm-up stays closed-loop, at --in-flight.
//
// With --postgres the bot's database is a throwaway PostgreSQL 15 (tests/support/postgres_server.h,
// a Unix socket in a temporary directory); --replicas 2 starts two `serve` processes on it, each
// with its own Socket Mode link(s) to the one fake, and --kill-after N SIGKILLs the first replica
// once N measured commands are done (the failover gap; see bench/README.md).
//
// Run: build-release/bench/shipmate_slack_bench [--commands N] [--in-flight N] ...
// (see bench/README.md for what each number means).
#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/websocket/rfc6455.hpp>
#include <boost/beast/websocket/stream.hpp>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <deque>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <libpq-fe.h>

#include "tests/support/postgres_server.h"

extern char** environ;

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
namespace fs = std::filesystem;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);

// Mention timestamps are "<kTsBase + i / 1e6>.<i % 1e6>": unique per command, a valid Slack ts,
// and decodable back to the command's index from the reply's thread_ts without a lookup table.
constexpr long long kTsBase = 1700000000;
constexpr std::string_view kEnvelopePrefix = "env-";
constexpr auto kStartupLimit = 30s;   // shipmate must connect within this (--startup-timeout)
constexpr auto kShutdownLimit = 25s;  // shipmate's own shutdown deadline is 20 s
constexpr auto kPollInterval = 20ms;
// --kill-after: how long after the kill the run waits for a survivor to take the work over.
constexpr auto kTakeoverLimit = 60s;

struct Options {
  long commands = 50000;
  long warmup = 5000;
  int in_flight = 32;
  int channels = 512;
  int timeout_s = 300;
  // How long the bot may take to open its first Socket Mode link: longer for a bot under
  // valgrind on a loaded machine (bench/README.md, "Instructions").
  std::chrono::seconds startup_limit = kStartupLimit;
  std::string shipmate;
  bool keep = false;
  bool syscalls = false;     // count the bot's system calls over the window with strace
  int connections = 1;       // slack.connections, and the Socket Mode links the fake expects
  bool faults = false;       // the fault profile (see usage)
  bool metrics = false;      // an ops: section, so the bot keeps its per-delivery metrics
  bool postgres = false;     // the database is a throwaway PostgreSQL instead of SQLite
  bool durable = false;      // that PostgreSQL with fsync, synchronous_commit and full pages on
  int replicas = 1;          // `serve` processes (more than one needs --postgres)
  long kill_after = -1;      // SIGKILL replica 0 after this many measured commands (-1: never)
  std::string lease;         // shipmate.replica_lease ("" = the bot's default, 10s)
  long rate = 0;             // --rate: measured commands per second, open loop (0: closed loop)
  long max_outstanding = 0;  // --rate: the bound on unanswered commands (0: the default)
  std::vector<std::pair<std::string, std::string>> postgres_settings;  // --postgres-set
};

// --rate's default bound on unanswered commands: a fifth of a second of sending, at least 200.
long default_max_outstanding(long rate) {
  return std::max<long>(200, rate / 5);
}

// The fault profile: what a Socket Mode link and the Web API do to the bot under --faults.
constexpr long kCutEvery = 500;         // envelope frames between cuts (a TCP reset)
constexpr long kDuplicateEvery = 100;   // every 100th command is delivered a second time
constexpr long kRateLimitEvery = 2000;  // every 2000th chat.postMessage answers 429
constexpr int kRetryAfterSeconds = 1;

void usage(std::FILE* out) {
  std::fprintf(
      out,
      "usage: shipmate_slack_bench [--commands N] [--warmup N] [--in-flight N]\n"
      "                            [--channels N] [--timeout SECONDS] [--shipmate PATH]\n"
      "                            [--startup-timeout SECONDS]\n"
      "                            [--keep] [--syscalls] [--connections N] [--faults]\n"
      "                            [--metrics] [--rate N [--max-outstanding N]]\n"
      "  --commands N     measured commands (default 50000)\n"
      "  --warmup N       commands run before measuring, excluded (default 5000)\n"
      "  --in-flight N    commands outstanding at any time (default 32); with --rate,\n"
      "                   during the warm-up only\n"
      "  --rate N         open loop: send the measured commands at N per second on a fixed\n"
      "                   schedule, whatever the answers do, and count each latency from\n"
      "                   the command's scheduled time; fails when the bot cannot keep up\n"
      "                   (more than --max-outstanding unanswered, or under 95%% of N)\n"
      "  --postgres-set NAME=VALUE  with --postgres: ALTER DATABASE ... SET NAME = VALUE on\n"
      "                   the bot's database before it connects (e.g.\n"
      "                   plan_cache_mode=force_custom_plan); may be repeated\n"
      "  --max-outstanding N  with --rate: unanswered commands that end the run as not\n"
      "                   keeping up (default N/5, at least 200)\n"
      "  --channels N     channels the commands are spread over (default 512)\n"
      "  --timeout S      give up after S seconds in total (default 300)\n"
      "  --startup-timeout S  give up when shipmate has no Socket Mode link after S\n"
      "                   seconds (default 30; raise it for a bot under valgrind)\n"
      "  --shipmate PATH  the bot binary (default: ../shipmate next to this program)\n"
      "  --keep           keep the temporary directory (config, database, bot log)\n"
      "  --syscalls       count the bot's system calls over the window (strace -f -c);\n"
      "                   strace slows the bot, so that run's times and CPU are not\n"
      "                   comparable with a run without it\n"
      "  --connections N  Socket Mode connections the bot keeps (default 1)\n"
      "  --faults         the fault profile: the fake cuts a link (TCP reset) every 500\n"
      "                   envelopes and redelivers what was not acked on another link,\n"
      "                   delivers every 100th command a second time (as Slack's\n"
      "                   retries do), and answers every 2000th chat.postMessage with\n"
      "                   429 and Retry-After: 1; reports the time without an open link\n"
      "  --metrics        give the bot an ops: section (its own listener on 127.0.0.1, a free\n"
      "                   port), which turns on the per-delivery ack and reply latency\n"
      "                   histograms: the run then costs what /metrics costs\n"
      "  --postgres       the database is a throwaway PostgreSQL 15 on a Unix socket\n"
      "                   (started and removed by this program) instead of SQLite\n"
      "  --replicas N     `serve` processes on that one database (default 1; >1 needs\n"
      "                   --postgres); the fake spreads envelopes over all their links\n"
      "  --kill-after N   SIGKILL the first replica after N measured commands and report\n"
      "                   the failover gap (needs --replicas 2 or more)\n"
      "  --lease D        shipmate.replica_lease for the replicas (e.g. 5s; default the\n"
      "                   bot's own, 10s)\n"
      "  --durable        with --postgres: turn fsync, synchronous_commit and\n"
      "                   full_page_writes back on (the test server has them off), so a\n"
      "                   commit waits for its WAL to reach the disk\n");
}

std::optional<long> parse_number(std::string_view text, long low, long high) {
  long value = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc() || end != text.data() + text.size() || value < low || value > high)
    return std::nullopt;
  return value;
}

std::optional<Options> parse_options(int argc, char** argv) {
  Options options;
  for (int i = 1; i < argc; ++i) {
    const std::string_view flag = argv[i];
    if (flag == "--help" || flag == "-h") {
      usage(stdout);
      std::exit(0);
    }
    if (flag == "--keep") {
      options.keep = true;
      continue;
    }
    if (flag == "--syscalls") {
      options.syscalls = true;
      continue;
    }
    if (flag == "--faults") {
      options.faults = true;
      continue;
    }
    if (flag == "--postgres") {
      options.postgres = true;
      continue;
    }
    if (flag == "--durable") {
      options.durable = true;
      continue;
    }
    if (flag == "--metrics") {
      options.metrics = true;
      continue;
    }
    if (i + 1 >= argc) {
      std::fprintf(stderr, "shipmate_slack_bench: %s needs a value\n", argv[i]);
      return std::nullopt;
    }
    const std::string_view value = argv[++i];
    std::optional<long> number;
    if (flag == "--shipmate") {
      options.shipmate = value;
      continue;
    } else if (flag == "--commands") {
      number = parse_number(value, 1, 100'000'000);
      options.commands = number.value_or(0);
    } else if (flag == "--warmup") {
      number = parse_number(value, 0, 100'000'000);
      options.warmup = number.value_or(0);
    } else if (flag == "--in-flight") {
      number = parse_number(value, 1, 10'000);
      options.in_flight = static_cast<int>(number.value_or(0));
    } else if (flag == "--rate") {
      number = parse_number(value, 1, 10'000'000);
      options.rate = number.value_or(0);
    } else if (flag == "--max-outstanding") {
      number = parse_number(value, 1, 100'000'000);
      options.max_outstanding = number.value_or(0);
    } else if (flag == "--channels") {
      number = parse_number(value, 1, 1'000'000);
      options.channels = static_cast<int>(number.value_or(0));
    } else if (flag == "--connections") {
      number = parse_number(value, 1, 10);
      options.connections = static_cast<int>(number.value_or(0));
    } else if (flag == "--replicas") {
      number = parse_number(value, 1, 8);
      options.replicas = static_cast<int>(number.value_or(0));
    } else if (flag == "--kill-after") {
      number = parse_number(value, 0, 100'000'000);
      options.kill_after = number.value_or(-1);
    } else if (flag == "--postgres-set") {
      const auto equals = value.find('=');
      if (equals == std::string_view::npos || equals == 0) {
        std::fprintf(stderr, "shipmate_slack_bench: --postgres-set wants NAME=VALUE\n");
        return std::nullopt;
      }
      options.postgres_settings.emplace_back(value.substr(0, equals), value.substr(equals + 1));
      continue;
    } else if (flag == "--lease") {
      options.lease = std::string(value);
      continue;
    } else if (flag == "--timeout") {
      number = parse_number(value, 1, 86'400);
      options.timeout_s = static_cast<int>(number.value_or(0));
    } else if (flag == "--startup-timeout") {
      number = parse_number(value, 1, 86'400);
      options.startup_limit = std::chrono::seconds(number.value_or(0));
    } else {
      std::fprintf(stderr, "shipmate_slack_bench: unknown option %s\n", argv[i - 1]);
      usage(stderr);
      return std::nullopt;
    }
    if (!number) {
      std::fprintf(stderr, "shipmate_slack_bench: bad value '%s' for %s\n", argv[i], argv[i - 1]);
      return std::nullopt;
    }
  }
  if (options.durable && !options.postgres) {
    std::fprintf(stderr, "shipmate_slack_bench: --durable needs --postgres\n");
    return std::nullopt;
  }
  if (options.replicas > 1 && !options.postgres) {
    std::fprintf(stderr,
                 "shipmate_slack_bench: --replicas above 1 needs --postgres (SQLite "
                 "admits one process)\n");
    return std::nullopt;
  }
  if (options.kill_after >= 0 && (options.replicas < 2 || options.kill_after >= options.commands)) {
    std::fprintf(stderr,
                 "shipmate_slack_bench: --kill-after needs --replicas 2 or more and a "
                 "count below --commands\n");
    return std::nullopt;
  }
  if (options.rate > 0 && options.kill_after >= 0) {
    std::fprintf(stderr,
                 "shipmate_slack_bench: --kill-after runs closed-loop (a takeover waits out the "
                 "lease, which no open-loop bound would survive); leave out --rate\n");
    return std::nullopt;
  }
  if (!options.postgres_settings.empty() && !options.postgres) {
    std::fprintf(stderr, "shipmate_slack_bench: --postgres-set needs --postgres\n");
    return std::nullopt;
  }
  if (options.max_outstanding > 0 && options.rate == 0) {
    std::fprintf(stderr, "shipmate_slack_bench: --max-outstanding needs --rate\n");
    return std::nullopt;
  }
  if (options.rate > 0 && options.max_outstanding == 0)
    options.max_outstanding = default_max_outstanding(options.rate);
  return options;
}

std::int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch())
      .count();
}

std::string mention_ts(long index) {
  char text[40];
  std::snprintf(text, sizeof text, "%lld.%06ld", kTsBase + index / 1'000'000, index % 1'000'000);
  return text;
}

// The inverse of mention_ts; -1 for anything it did not produce.
long index_of_ts(std::string_view ts) {
  const auto dot = ts.find('.');
  if (dot == std::string_view::npos || ts.size() - dot - 1 != 6)
    return -1;
  long long seconds = 0;
  long micros = 0;
  const auto* begin = ts.data();
  if (std::from_chars(begin, begin + dot, seconds).ec != std::errc() ||
      std::from_chars(begin + dot + 1, begin + ts.size(), micros).ec != std::errc() ||
      seconds < kTsBase)
    return -1;
  return static_cast<long>((seconds - kTsBase) * 1'000'000 + micros);
}

// The value of the first `"name":"..."` in compact JSON (what Boost.JSON and Shipmate emit).
// Enough for the ids and timestamps the fake matches on, which never contain escapes; parsing
// a full DOM per request would cost the fake more CPU than the bot it is measuring.
std::string_view string_field(std::string_view json, std::string_view name) {
  std::size_t at = 0;
  while ((at = json.find(name, at)) != std::string_view::npos) {
    const std::size_t end = at + name.size();
    if (at > 0 && json[at - 1] == '"' && json.substr(end, 3) == "\":\"") {
      const std::size_t start = end + 3;
      const std::size_t close = json.find('"', start);
      if (close == std::string_view::npos)
        return {};
      return json.substr(start, close - start);
    }
    at = end;
  }
  return {};
}

// An events_api envelope as Slack sends it for "@shipmate ping" (field order and extras as in
// real traffic, so the bot parses a realistically sized frame).
std::string make_envelope(long index, int channels, int retry_attempt = 0) {
  char channel[24];
  std::snprintf(channel, sizeof channel, "C%08ld", index % channels);
  const std::string ts = mention_ts(index);
  const std::string id = std::to_string(index);
  std::string out;
  out.reserve(1100);
  out += "{\"envelope_id\":\"";
  out += kEnvelopePrefix;
  out += id;
  if (retry_attempt > 0) {
    // A redelivery: a new envelope for the same event (same event_id), as Slack retries.
    out += "-r";
    out += std::to_string(retry_attempt);
  }
  out +=
      "\",\"payload\":{\"token\":\"bench-verification-token\",\"team_id\":\"T1\","
      "\"context_team_id\":\"T1\",\"context_enterprise_id\":null,\"api_app_id\":\"A1\","
      "\"event\":{\"client_msg_id\":\"5f0c3a9e-0000-4000-8000-";
  char uuid_tail[16];
  std::snprintf(uuid_tail, sizeof uuid_tail, "%012ld", index);
  out += uuid_tail;
  out += "\",\"type\":\"app_mention\",\"text\":\"<@UBOT> ping\",\"user\":\"UBENCH\",\"ts\":\"";
  out += ts;
  out += "\",\"blocks\":[{\"type\":\"rich_text\",\"block_id\":\"bk";
  out += id;
  out +=
      "\",\"elements\":[{\"type\":\"rich_text_section\",\"elements\":[{\"type\":\"user\","
      "\"user_id\":\"UBOT\"},{\"type\":\"text\",\"text\":\" ping\"}]}]}],\"team\":\"T1\","
      "\"channel\":\"";
  out += channel;
  out += "\",\"event_ts\":\"";
  out += ts;
  out += "\"},\"type\":\"event_callback\",\"event_id\":\"Ev";
  out += id;
  out += "\",\"event_time\":";
  out += std::to_string(kTsBase + index / 1'000'000);
  out +=
      ",\"authorizations\":[{\"enterprise_id\":null,\"team_id\":\"T1\",\"user_id\":\"UBOT\","
      "\"is_bot\":true,\"is_enterprise_install\":false}],\"is_ext_shared_channel\":false,"
      "\"event_context\":\"4-bench-";
  out += id;
  out += "\"},\"type\":\"events_api\",\"accepts_response_payload\":false,\"retry_attempt\":";
  out += std::to_string(retry_attempt);
  out += retry_attempt > 0 ? ",\"retry_reason\":\"timeout\"}" : ",\"retry_reason\":\"\"}";
  return out;
}

// --- /proc readings -------------------------------------------------------------------------

// utime + stime of a process in seconds (fields 14 and 15 of /proc/<pid>/stat).
double process_cpu_seconds(pid_t pid) {
  std::ifstream file("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  std::getline(file, line);
  // The command name (field 2) may contain spaces; the fields after its ')' do not.
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

// CPU of a PostgreSQL server: the postmaster's own utime+stime and its reaped children's
// (cutime+cstime, fields 16 and 17: backends that ended), plus every live child's utime+stime.
double postgres_tree_cpu_seconds(pid_t postmaster) {
  auto fields = [](const std::string& pid, long long& ppid, double& own, double& reaped) {
    std::ifstream file("/proc/" + pid + "/stat");
    std::string line;
    std::getline(file, line);
    const auto close = line.rfind(')');
    if (close == std::string::npos)
      return false;
    std::istringstream rest(line.substr(close + 2));
    std::string state;
    unsigned long long skipped = 0;
    unsigned long long utime = 0;
    unsigned long long stime = 0;
    unsigned long long cutime = 0;
    unsigned long long cstime = 0;
    rest >> state >> ppid;
    for (int field = 5; field <= 13; ++field)
      rest >> skipped;
    rest >> utime >> stime >> cutime >> cstime;
    const auto tick = static_cast<double>(sysconf(_SC_CLK_TCK));
    own = static_cast<double>(utime + stime) / tick;
    reaped = static_cast<double>(cutime + cstime) / tick;
    return true;
  };
  double total = 0;
  long long ppid = 0;
  double own = 0;
  double reaped = 0;
  if (fields(std::to_string(postmaster), ppid, own, reaped))
    total += own + reaped;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator("/proc", ec)) {
    const std::string name = entry.path().filename().string();
    if (name.empty() || name.find_first_not_of("0123456789") != std::string::npos)
      continue;
    if (fields(name, ppid, own, reaped) && ppid == postmaster)
      total += own;
  }
  return total;
}

// pg_stat_database.xact_commit of the database `uri` names (counts every transaction that
// committed in it, the bench's own query included); -1 when it cannot be read. PostgreSQL
// publishes these counters with a short delay, so read them around a window of seconds.
long long database_commits(const std::string& uri) {
  PGconn* conn = PQconnectdb(uri.c_str());
  long long out = -1;
  if (PQstatus(conn) == CONNECTION_OK) {
    PGresult* result = PQexec(conn,
                              "SELECT pg_stat_clear_snapshot(); SELECT xact_commit FROM "
                              "pg_stat_database WHERE datname = current_database()");
    if (PQresultStatus(result) == PGRES_TUPLES_OK && PQntuples(result) == 1)
      out = std::atoll(PQgetvalue(result, 0, 0));
    PQclear(result);
  }
  PQfinish(conn);
  return out;
}

// pg_stat_user_tables.seq_scan of every table of the bot's database, by name (empty when the
// server cannot be asked). Like xact_commit, a backend publishes these about once a second.
std::vector<std::pair<std::string, long long>> sequential_scans(const std::string& uri) {
  std::vector<std::pair<std::string, long long>> out;
  PGconn* conn = PQconnectdb(uri.c_str());
  if (PQstatus(conn) == CONNECTION_OK) {
    PGresult* result = PQexec(conn,
                              "SELECT pg_stat_clear_snapshot(); SELECT relname, seq_scan FROM "
                              "pg_stat_user_tables ORDER BY relname");
    if (PQresultStatus(result) == PGRES_TUPLES_OK) {
      for (int row = 0; row < PQntuples(result); ++row)
        out.emplace_back(PQgetvalue(result, row, 0), std::atoll(PQgetvalue(result, row, 1)));
    }
    PQclear(result);
  }
  PQfinish(conn);
  return out;
}

// --postgres-set: a default for every later session on the bot's database (the bot's own SET
// at connect, if it has one, still wins).
bool set_database_defaults(const std::string& uri,
                           const std::vector<std::pair<std::string, std::string>>& settings) {
  PGconn* conn = PQconnectdb(uri.c_str());
  bool ok = PQstatus(conn) == CONNECTION_OK;
  for (const auto& [name, value] : settings) {
    if (!ok)
      break;
    const std::string sql =
        "DO $$ BEGIN EXECUTE format('ALTER DATABASE %I SET %I = %L', "
        "current_database(), '" +
        name + "', '" + value + "'); END $$";
    PGresult* result = PQexec(conn, sql.c_str());
    ok = PQresultStatus(result) == PGRES_COMMAND_OK;
    if (!ok)
      std::fprintf(stderr, "shipmate_slack_bench: --postgres-set %s=%s: %s", name.c_str(),
                   value.c_str(), PQerrorMessage(conn));
    PQclear(result);
  }
  PQfinish(conn);
  return ok;
}

// The throwaway server runs with fsync, synchronous_commit and full_page_writes off (tests do
// not need to survive a power cut). All three take effect on a reload, so --durable turns them
// back on for the whole server, as a production one has them.
bool make_durable(const std::string& uri) {
  PGconn* conn = PQconnectdb(uri.c_str());
  bool ok = PQstatus(conn) == CONNECTION_OK;
  for (const char* sql : {"ALTER SYSTEM SET fsync = on", "ALTER SYSTEM SET synchronous_commit = on",
                          "ALTER SYSTEM SET full_page_writes = on", "SELECT pg_reload_conf()"}) {
    if (!ok)
      break;
    PGresult* result = PQexec(conn, sql);
    ok = PQresultStatus(result) == PGRES_COMMAND_OK || PQresultStatus(result) == PGRES_TUPLES_OK;
    PQclear(result);
  }
  PQfinish(conn);
  return ok;
}

double own_cpu_seconds() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  auto seconds = [](const timeval& t) {
    return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) / 1e6;
  };
  return seconds(usage.ru_utime) + seconds(usage.ru_stime);
}

// A "Name:   1234 kB" line of /proc/<pid>/status, in kB; 0 when absent.
long status_kb(const std::string& pid, std::string_view name) {
  std::ifstream file("/proc/" + pid + "/status");
  std::string line;
  while (std::getline(file, line)) {
    if (line.starts_with(name) && line.size() > name.size() && line[name.size()] == ':')
      return std::atol(line.c_str() + name.size() + 1);
  }
  return 0;
}

// --- system calls ----------------------------------------------------------------------------

// Counts the bot's system calls over the measured window: `strace -f -c -p <pid>` attached to
// every thread before the window opens and interrupted (which detaches it and writes the
// summary) as it closes. Counts do not depend on the machine's load; strace's ptrace stops do
// slow every call down, so a run with --syscalls reports counts, not speed.
class SyscallCounter {
 public:
  // Starts strace on `pid` and waits until every thread of it is traced.
  bool start(pid_t pid, const fs::path& out, std::string& why) {
    out_ = out;
    tracer_ = fork();
    if (tracer_ < 0) {
      why = "fork for strace failed";
      return false;
    }
    if (tracer_ == 0) {
      const int null_fd = open("/dev/null", O_WRONLY);
      if (null_fd >= 0)
        dup2(null_fd, 2);
      const std::string target = std::to_string(pid);
      const std::string file = out.string();
      execlp("strace", "strace", "-f", "-c", "-q", "-o", file.c_str(), "-p", target.c_str(),
             static_cast<char*>(nullptr));
      _exit(127);
    }
    const auto deadline = Clock::now() + 10s;
    while (Clock::now() < deadline) {
      int status = 0;
      if (waitpid(tracer_, &status, WNOHANG) == tracer_) {
        tracer_ = -1;
        why = "strace exited at once (is it installed? scripts/install-deps installs it)";
        return false;
      }
      if (all_traced(pid))
        return true;
      std::this_thread::sleep_for(5ms);
    }
    why = "strace did not attach within 10 s";
    return false;
  }

  // Detaches strace; returns {name, calls} for every system call seen, most frequent first.
  std::vector<std::pair<std::string, long>> stop() {
    std::vector<std::pair<std::string, long>> calls;
    if (tracer_ <= 0)
      return calls;
    kill(tracer_, SIGINT);
    int status = 0;
    waitpid(tracer_, &status, 0);
    tracer_ = -1;
    // "% time  seconds  usecs/call  calls  [errors]  syscall" rows between two dashed lines.
    std::ifstream file(out_);
    std::string line;
    int rules = 0;
    while (std::getline(file, line)) {
      if (line.starts_with("------")) {
        if (++rules == 2)
          break;
        continue;
      }
      if (rules != 1)
        continue;
      std::istringstream fields(line);
      std::vector<std::string> words;
      for (std::string word; fields >> word;)
        words.push_back(word);
      if (words.size() < 5)
        continue;
      calls.emplace_back(words.back(), std::atol(words[3].c_str()));
    }
    std::sort(calls.begin(), calls.end(),
              [](const auto& a, const auto& b) { return a.second > b.second; });
    return calls;
  }

 private:
  static bool all_traced(pid_t pid) {
    std::error_code ec;
    int tasks = 0;
    for (const auto& task : fs::directory_iterator("/proc/" + std::to_string(pid) + "/task", ec)) {
      ++tasks;
      std::ifstream status(task.path() / "status");
      std::string line;
      bool traced = false;
      while (std::getline(status, line)) {
        if (line.starts_with("TracerPid:")) {
          traced = std::atol(line.c_str() + 10) != 0;
          break;
        }
      }
      if (!traced)
        return false;
    }
    return tasks > 0 && !ec;
  }

  pid_t tracer_ = -1;
  fs::path out_;
};

// --- results -------------------------------------------------------------------------------

struct Percentiles {
  double p50 = 0, p90 = 0, p99 = 0, max = 0;  // milliseconds
};

Percentiles percentiles(std::vector<std::int64_t> samples_ns) {
  Percentiles out;
  if (samples_ns.empty())
    return out;
  std::sort(samples_ns.begin(), samples_ns.end());
  // Nearest rank: the smallest sample with at least p of all samples at or below it.
  auto rank = [&](double p) {
    const auto n = static_cast<double>(samples_ns.size());
    const auto index = static_cast<std::size_t>(std::max(1.0, std::ceil(p * n))) - 1;
    return static_cast<double>(samples_ns[index]) / 1e6;
  };
  out.p50 = rank(0.50);
  out.p90 = rank(0.90);
  out.p99 = rank(0.99);
  out.max = static_cast<double>(samples_ns.back()) / 1e6;
  return out;
}

std::string percentiles_json(const Percentiles& p) {
  char text[160];
  std::snprintf(text, sizeof text, "{\"p50\":%.3f,\"p90\":%.3f,\"p99\":%.3f,\"max\":%.3f}", p.p50,
                p.p90, p.p99, p.max);
  return text;
}

// --- the fake and the driver ----------------------------------------------------------------

// The Socket Mode connection. Beast answers the opening handshake; after that the fake frames
// and parses websocket messages itself on the raw socket. Frames queued together leave in one
// write, and every ack that one read brings in is stamped in the same pass. Through Beast each
// frame cost a turn of this loop, so acks waited behind the fake's own HTTP work and that wait
// was counted as the bot's latency.
struct Link {
  explicit Link(tcp::socket socket, int id_in) : ws(std::move(socket)), id(id_in) {}
  struct Frame {
    std::string text;
    long index;  // the command it carries; kHello or kOther otherwise
    std::uint8_t opcode = 0x1;
  };
  static constexpr long kHello = -2;
  static constexpr long kOther = -1;
  websocket::stream<tcp::socket> ws;  // after the handshake only its socket is used
  int id;
  std::deque<Frame> queue;
  bool writing = false;
  bool closing = false;
  bool ready = false;  // its hello is written
  bool cut_after_write = false;
  bool cut = false;  // the fake reset it (--faults)
};

// Appends one unmasked server frame (RFC 6455 section 5.2) to `out`.
void append_frame(std::string& out, std::uint8_t opcode, std::string_view payload) {
  out += static_cast<char>(0x80 | opcode);  // FIN
  const std::size_t size = payload.size();
  if (size < 126) {
    out += static_cast<char>(size);
  } else if (size <= 0xFFFF) {
    out += static_cast<char>(126);
    out += static_cast<char>(size >> 8);
    out += static_cast<char>(size & 0xFF);
  } else {
    out += static_cast<char>(127);
    for (int shift = 56; shift >= 0; shift -= 8)
      out += static_cast<char>((static_cast<std::uint64_t>(size) >> shift) & 0xFF);
  }
  out += payload;
}

// One client frame parsed off the front of `in`: what it says and how many bytes it took;
// consumed 0 means the frame is not complete yet. Client frames are always masked.
struct ClientFrame {
  std::size_t consumed = 0;
  bool fin = true;
  std::uint8_t opcode = 0;
  std::string payload;
  bool bad = false;
};

ClientFrame parse_client_frame(std::string_view in) {
  ClientFrame frame;
  if (in.size() < 2)
    return frame;
  const auto byte = [&](std::size_t i) { return static_cast<std::uint8_t>(in[i]); };
  frame.fin = (byte(0) & 0x80) != 0;
  frame.opcode = byte(0) & 0x0F;
  if ((byte(1) & 0x80) == 0) {
    frame.bad = true;  // an unmasked client frame is a protocol error
    return frame;
  }
  std::uint64_t size = byte(1) & 0x7F;
  std::size_t at = 2;
  if (size == 126 || size == 127) {
    const std::size_t width = size == 126 ? 2 : 8;
    if (in.size() < at + width)
      return frame;
    size = 0;
    for (std::size_t i = 0; i < width; ++i)
      size = (size << 8) | byte(at + i);
    at += width;
  }
  if (in.size() < at + 4 + size)
    return frame;
  const std::size_t key = at;
  at += 4;
  frame.payload.resize(static_cast<std::size_t>(size));
  for (std::size_t i = 0; i < size; ++i)
    frame.payload[i] = static_cast<char>(byte(at + i) ^ byte(key + i % 4));
  frame.consumed = at + static_cast<std::size_t>(size);
  return frame;
}

class Bench {
 public:
  Bench(Options options, fs::path dir)
      : options_(std::move(options)),
        dir_(std::move(dir)),
        acceptor_(io_, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)),
        total_(options_.warmup + options_.commands),
        sent_at_(static_cast<std::size_t>(total_), 0),
        acked_at_(static_cast<std::size_t>(total_), 0),
        replied_at_(static_cast<std::size_t>(total_), 0) {
    sent_on_.assign(static_cast<std::size_t>(total_), -1);
    port_ = acceptor_.local_endpoint().port();
  }

  int run();

 private:
  enum class Phase { starting, warmup, measure, awaiting_takeover, stopping, done };

  bool write_config(int replica);
  bool spawn_shipmate(int replica);
  void kill_replica();
  asio::awaitable<void> accept_loop();
  asio::awaitable<void> serve_http(tcp::socket socket);
  asio::awaitable<void> serve_link(tcp::socket socket, http::request<http::string_body> upgrade);
  asio::awaitable<void> write_frames(std::shared_ptr<Link> link);
  asio::awaitable<void> supervise();
  std::string answer(std::string_view method, std::string_view body);
  void queue_frame(const std::shared_ptr<Link>& link, std::string text, long index,
                   std::uint8_t opcode = 0x1);
  std::shared_ptr<Link> next_ready_link();
  void send_command(long index, int retry_attempt = 0);
  void cut_link(const std::shared_ptr<Link>& link);
  void on_link_lost(const std::shared_ptr<Link>& link);
  void ready_links_changed();
  void on_connected();
  void on_ack(std::string_view frame);
  void on_reply(std::string_view body);
  void remember_reply(std::string_view body, const std::string& ts);
  std::string thread_replies(std::string_view form);
  void settle(long index);
  void begin_measuring();
  // --rate: sends the measured commands on their schedule.
  asio::awaitable<void> pace();
  void end_measuring();
  void abort_run(const std::string& why);
  void signal_replicas(int signal);
  void stop_replicas();
  bool all_exited() const;
  int report();
  std::string bot_log_tail() const;
  std::string log_tail(int replica) const;
  double first_log_line_after_kill(std::string_view needle) const;

  Options options_;
  fs::path dir_;
  asio::io_context io_{1};
  tcp::acceptor acceptor_;
  unsigned short port_ = 0;
  // The replicas, in the order started; replica 0 is the one --kill-after kills.
  std::vector<pid_t> children_;
  std::vector<int> child_status_;
  std::vector<bool> child_exited_;
  std::unique_ptr<shipmate::testing::PostgresServer> postgres_;
  std::string database_uri_;
  // --kill-after: when replica 0 got SIGKILL, and the commands outstanding at that moment.
  bool killed_ = false;
  Clock::time_point killed_at_{};
  std::int64_t killed_ns_ = 0;
  std::chrono::system_clock::time_point killed_wall_{};  // to compare with the logs' times
  std::vector<long> outstanding_at_kill_;
  // --kill-after: every reply posted in command i's thread, as ts and outbox key, for
  // conversations.replies (the survivor looks before it sends a dead replica's unconfirmed rows).
  std::vector<std::vector<std::pair<std::string, std::string>>> thread_replies_;
  Phase phase_ = Phase::starting;
  std::string failure_;
  Clock::time_point started_ = Clock::now();
  Clock::time_point stop_sent_{};

  std::vector<std::shared_ptr<Link>> links_;  // open ones
  std::size_t round_robin_ = 0;
  long tickets_ = 0;
  long links_accepted_ = 0;
  int next_link_id_ = 0;
  // --faults
  long envelope_frames_ = 0;
  long cuts_ = 0;
  long redelivered_ = 0;      // envelopes sent again after their link was cut
  long duplicated_ = 0;       // commands delivered twice on purpose
  long redelivery_acks_ = 0;  // acks of those second deliveries
  long rate_limited_ = 0;
  long post_messages_ = 0;
  std::vector<int> sent_on_;  // per command: the link its last delivery went out on
  std::deque<long> orphans_;  // commands waiting for a ready link to be delivered again
  int ready_links_ = 0;
  Clock::time_point no_link_since_{};
  double no_link_ms_ = 0;  // in the measured window

  // Per command, in steady-clock nanoseconds; 0 = not yet.
  long total_;
  long next_ = 0;
  long settled_ = 0;
  std::vector<std::int64_t> sent_at_;
  std::vector<std::int64_t> acked_at_;
  std::vector<std::int64_t> replied_at_;
  // --rate: the most commands unanswered at once, and the latest a command left its schedule.
  long most_outstanding_ = 0;
  std::int64_t most_send_lag_ns_ = 0;

  // Counters that must stay zero in a valid run, and a few that explain the numbers.
  long duplicate_acks_ = 0;
  long stray_acks_ = 0;
  long stray_replies_ = 0;
  long wrong_replies_ = 0;
  long unknown_methods_ = 0;
  long http_connections_ = 0;
  long http_requests_ = 0;
  long posted_ts_ = 0;

  struct Sample {
    Clock::time_point at;
    double bot_cpu = 0;  // all replicas still running (a killed one counts up to its kill)
    double own_cpu = 0;
    double postgres_cpu = 0;  // the postmaster, its children and its reaped children
    long long commits = -1;   // pg_stat_database.xact_commit of the bot's database
    std::vector<std::pair<std::string, long long>> seq_scans;  // pg_stat_user_tables
    long http_connections = 0;
    long http_requests = 0;
  };
  Sample window_start_;
  Sample window_end_;
  long bot_peak_rss_kb_ = 0;
  long bot_rss_kb_ = 0;
  SyscallCounter syscalls_;
  std::vector<std::pair<std::string, long>> syscall_counts_;

  double replicas_cpu() {
    double total = 0;
    for (std::size_t i = 0; i < children_.size(); ++i) {
      if (!child_exited_[i] && !(killed_ && i == 0))
        total += process_cpu_seconds(children_[i]);
    }
    // A killed replica's CPU up to its kill stays in the sum (read just before the kill).
    if (killed_)
      total += killed_replica_cpu_;
    return total;
  }
  Sample sample() {
    Sample out;
    out.at = Clock::now();
    out.bot_cpu = replicas_cpu();
    out.own_cpu = own_cpu_seconds();
    out.http_connections = http_connections_;
    out.http_requests = http_requests_;
    if (postgres_) {
      out.postgres_cpu = postgres_tree_cpu_seconds(postgres_->pid());
      out.commits = database_commits(database_uri_);
      out.seq_scans = sequential_scans(database_uri_);
    }
    return out;
  }
  double killed_replica_cpu_ = 0;
  int links_wanted() const { return options_.connections * options_.replicas; }
  static std::string config_name(int replica) {
    return replica == 0 ? "shipmate.yaml" : "shipmate-" + std::to_string(replica) + ".yaml";
  }
  static std::string log_name(int replica) {
    return replica == 0 ? "shipmate.log" : "shipmate-" + std::to_string(replica) + ".log";
  }
};

bool Bench::write_config(int replica) {
  // No services: `ping` touches no deploy target, so the run measures the Slack path (socket,
  // inbox, router, Web API) and nothing else. Pacing is opened up because Slack's real limit
  // (about one message per second per channel) would otherwise be the only thing measured.
  // On PostgreSQL the database comes by reference (the URI is in the environment); each replica
  // has its own name (SHIPMATE_REPLICA) and state directory.
  std::ofstream file(dir_ / config_name(replica));
  file << "shipmate:\n"
          "  name: shipmate\n";
  if (options_.postgres) {
    file << "  database: {secret: database}\n"
            "  state_dir: state/run-"
         << replica << "\n";
    if (!options_.lease.empty())
      file << "  replica_lease: " << options_.lease << "\n";
  } else {
    file << "  database: state/shipmate.db\n"
            "  state_dir: state/run\n";
  }
  file << "slack:\n"
          "  connections: "
       << options_.connections
       << "\n"
          "  reply_interval: 0ms\n"
          "  reply_burst: 1000\n"
          "environments:\n"
          "  - name: staging\n"
          "users:\n"
          "  - {id: bench, name: Bench, roles: [developer], slack: UBENCH}\n"
          "services: []\n";
  if (options_.postgres)
    file << "secrets:\n  database: {env: SHIPMATE_BENCH_DATABASE}\n";
  if (options_.metrics)
    file << "ops:\n  listen: {bind: 127.0.0.1, port: 0}\n";
  return static_cast<bool>(file);
}

bool Bench::spawn_shipmate(int replica) {
  const std::string config = (dir_ / config_name(replica)).string();
  const std::string log = (dir_ / log_name(replica)).string();
  const std::string api_url = "http://127.0.0.1:" + std::to_string(port_) + "/api/";
  std::vector<std::string> args{options_.shipmate, "--log-level", "warn", "serve",
                                "--no-terminal",   "--config",    config};
  std::vector<std::string> env;
  for (char** entry = environ; *entry != nullptr; ++entry) {
    const std::string_view text = *entry;
    // Proxies would send loopback traffic elsewhere; the Slack variables are set below.
    if (!text.starts_with("SLACK_") && !text.starts_with("HTTP_PROXY=") &&
        !text.starts_with("http_proxy=") && !text.starts_with("HTTPS_PROXY=") &&
        !text.starts_with("https_proxy="))
      env.emplace_back(text);
  }
  env.push_back("SLACK_APP_TOKEN=xapp-bench");
  env.push_back("SLACK_BOT_TOKEN=xoxb-bench");
  env.push_back("SLACK_API_URL=" + api_url);
  if (options_.postgres) {
    env.push_back("SHIPMATE_BENCH_DATABASE=" + database_uri_);
    env.push_back("SHIPMATE_REPLICA=r" + std::to_string(replica));
  }
  std::vector<char*> argv;
  for (auto& arg : args)
    argv.push_back(arg.data());
  argv.push_back(nullptr);
  std::vector<char*> envp;
  for (auto& entry : env)
    envp.push_back(entry.data());
  envp.push_back(nullptr);

  const pid_t parent = getpid();
  const pid_t child = fork();
  if (child < 0) {
    std::perror("shipmate_slack_bench: fork");
    return false;
  }
  if (child > 0) {
    children_.push_back(child);
    child_status_.push_back(0);
    child_exited_.push_back(false);
  }
  if (child == 0) {
    // The bot must not outlive a benchmark that was killed.
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() != parent)
      _exit(127);
    if (chdir(dir_.c_str()) != 0)
      _exit(127);
    const int null_fd = open("/dev/null", O_RDONLY);
    const int log_fd = open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (null_fd < 0 || log_fd < 0)
      _exit(127);
    dup2(null_fd, 0);
    dup2(log_fd, 1);
    dup2(log_fd, 2);
    execve(argv[0], argv.data(), envp.data());
    _exit(127);
  }
  return true;
}

// Replica 0 dies without warning; what it had taken and not answered must come from the survivor
// (Slack's redelivery of unacked envelopes, the survivor adopting its unsent replies).
void Bench::kill_replica() {
  killed_replica_cpu_ = process_cpu_seconds(children_[0]);
  kill(children_[0], SIGKILL);
  killed_ = true;
  killed_at_ = Clock::now();
  killed_ns_ = now_ns();
  killed_wall_ = std::chrono::system_clock::now();
  for (long index = 0; index < next_; ++index) {
    const auto at = static_cast<std::size_t>(index);
    if (acked_at_[at] == 0 || replied_at_[at] == 0)
      outstanding_at_kill_.push_back(index);
  }
}

asio::awaitable<void> Bench::accept_loop() {
  for (;;) {
    auto [ec, socket] = co_await acceptor_.async_accept(kTuple);
    if (ec) {
      if (ec == asio::error::operation_aborted)
        co_return;
      continue;
    }
    boost::system::error_code ignored;
    socket.set_option(tcp::no_delay(true), ignored);
    ++http_connections_;
    asio::co_spawn(io_, serve_http(std::move(socket)), asio::detached);
  }
}

asio::awaitable<void> Bench::serve_http(tcp::socket socket) {
  beast::flat_buffer buffer;
  std::string out;
  for (;;) {
    http::request_parser<http::string_body> parser;
    parser.body_limit(1 << 20);
    auto [ec, read] = co_await http::async_read(socket, buffer, parser, kTuple);
    (void)read;
    if (ec)
      co_return;
    if (websocket::is_upgrade(parser.get())) {
      asio::co_spawn(io_, serve_link(std::move(socket), parser.release()), asio::detached);
      co_return;
    }
    ++http_requests_;
    const auto& request = parser.get();
    std::string_view method = request.target();
    method = method.substr(0, method.find('?'));
    if (method.starts_with("/api/"))
      method.remove_prefix(5);
    const bool limited =
        options_.faults && method == "chat.postMessage" && ++post_messages_ % kRateLimitEvery == 0;
    const std::string body = limited ? std::string("{\"ok\":false,\"error\":\"ratelimited\"}")
                                     : answer(method, request.body());
    // Written by hand: one buffer, no header container to build per response.
    out.clear();
    if (limited) {
      ++rate_limited_;
      out += "HTTP/1.1 429 Too Many Requests\r\nRetry-After: ";
      out += std::to_string(kRetryAfterSeconds);
      out += "\r\n";
    } else {
      out += "HTTP/1.1 200 OK\r\n";
    }
    out += "Content-Type: application/json; charset=utf-8\r\nContent-Length: ";
    out += std::to_string(body.size());
    out += "\r\n\r\n";
    out += body;
    const bool keep_alive = request.keep_alive();
    auto [write_ec, written] = co_await asio::async_write(socket, asio::buffer(out), kTuple);
    (void)written;
    if (write_ec || !keep_alive)
      co_return;
  }
}

std::string Bench::answer(std::string_view method, std::string_view body) {
  if (method == "chat.postMessage" || method == "chat.update") {
    if (method == "chat.postMessage")
      on_reply(body);
    const std::string channel(string_field(body, "channel"));
    char ts[40];
    std::snprintf(ts, sizeof ts, "1800000000.%06ld", ++posted_ts_ % 1'000'000);
    if (method == "chat.postMessage" && options_.kill_after >= 0)
      remember_reply(body, ts);
    return "{\"ok\":true,\"channel\":\"" + channel + "\",\"ts\":\"" + ts + "\"}";
  }
  // A survivor adopting a dead replica's unconfirmed replies looks for each in its thread.
  if (method == "conversations.replies" && options_.kill_after >= 0)
    return thread_replies(body);
  if (method == "auth.test") {
    return "{\"ok\":true,\"url\":\"https://bench.slack.com/\",\"team\":\"Bench\",\"user\":"
           "\"shipmate\",\"team_id\":\"T1\",\"user_id\":\"UBOT\",\"bot_id\":\"B1\"}";
  }
  if (method == "apps.connections.open") {
    return "{\"ok\":true,\"url\":\"ws://127.0.0.1:" + std::to_string(port_) +
           "/link/?ticket=" + std::to_string(++tickets_) + "&app_id=A1\"}";
  }
  ++unknown_methods_;
  return "{\"ok\":false,\"error\":\"unknown_method\"}";
}

asio::awaitable<void> Bench::serve_link(tcp::socket socket,
                                        http::request<http::string_body> upgrade) {
  auto link = std::make_shared<Link>(std::move(socket), next_link_id_++);
  websocket::stream_base::timeout timeouts{};
  timeouts.handshake_timeout = std::chrono::seconds(5);
  // No idle timer and no keep-alive pings: the run is short and constantly busy. The read loop
  // below answers the bot's pings.
  timeouts.idle_timeout = websocket::stream_base::none();
  timeouts.keep_alive_pings = false;
  link->ws.set_option(timeouts);
  auto [accept_ec] = co_await link->ws.async_accept(upgrade, kTuple);
  if (accept_ec)
    co_return;
  ++links_accepted_;
  if (!options_.faults && links_accepted_ > links_wanted()) {
    abort_run("shipmate opened more Socket Mode connections than slack.connections (" +
              std::to_string(options_.connections) + ") times the replicas");
    co_return;
  }
  links_.push_back(link);
  queue_frame(link,
              "{\"type\":\"hello\",\"num_connections\":1,\"connection_info\":{\"app_id\":\"A1\"},"
              "\"debug_info\":{\"host\":\"applink-bench\",\"build_number\":1,"
              "\"approximate_connection_time\":3600}}",
              Link::kHello);
  auto& raw = link->ws.next_layer();
  std::string in;
  std::string message;  // a fragmented message being reassembled (Shipmate sends none)
  char chunk[64 * 1024];
  bool open = true;
  while (open) {
    auto [ec, read] = co_await raw.async_read_some(asio::buffer(chunk), kTuple);
    if (ec)
      break;
    in.append(chunk, read);
    std::size_t used = 0;
    for (;;) {
      ClientFrame frame = parse_client_frame(std::string_view(in).substr(used));
      if (frame.bad) {
        abort_run("shipmate sent an unmasked websocket frame");
        open = false;
        break;
      }
      if (frame.consumed == 0)
        break;
      used += frame.consumed;
      if (frame.opcode == 0x9) {  // ping: answer with its payload
        queue_frame(link, std::move(frame.payload), Link::kOther, 0xA);
      } else if (frame.opcode == 0x8) {  // close: echo it, then stop reading
        queue_frame(link, std::move(frame.payload), Link::kOther, 0x8);
        open = false;
        break;
      } else if (frame.opcode == 0x1 || frame.opcode == 0x0) {
        message += frame.payload;
        if (frame.fin) {
          on_ack(message);
          message.clear();
        }
      }
    }
    in.erase(0, used);
  }
  on_link_lost(link);
}

void Bench::on_link_lost(const std::shared_ptr<Link>& link) {
  const auto found = std::find(links_.begin(), links_.end(), link);
  if (found == links_.end())
    return;
  links_.erase(found);
  // After --kill-after's SIGKILL the dead replica's links close: expected, not a failure.
  if (!link->cut && !killed_ && (phase_ == Phase::warmup || phase_ == Phase::measure))
    abort_run("shipmate closed a Socket Mode connection mid-run");
  ready_links_changed();
  // What the bot never acknowledged on that link is delivered again on another one, as Slack
  // does; the command's latency still counts from its first delivery.
  for (long index = 0; index < next_; ++index) {
    const auto at = static_cast<std::size_t>(index);
    if (sent_on_[at] == link->id && acked_at_[at] == 0) {
      sent_on_[at] = -1;
      ++redelivered_;
      send_command(index, 1);
    }
  }
  for (const auto& frame : link->queue) {
    if (frame.index >= 0 && acked_at_[static_cast<std::size_t>(frame.index)] == 0) {
      ++redelivered_;
      send_command(frame.index, 1);
    }
  }
  link->queue.clear();
}

void Bench::cut_link(const std::shared_ptr<Link>& link) {
  if (link->cut)
    return;
  link->cut = true;
  ++cuts_;
  boost::system::error_code ignored;
  auto& socket = link->ws.next_layer();
  socket.set_option(asio::socket_base::linger(true, 0), ignored);  // a reset, not a FIN
  socket.close(ignored);
  on_link_lost(link);
}

void Bench::ready_links_changed() {
  int ready = 0;
  for (const auto& link : links_)
    ready += link->ready && !link->cut ? 1 : 0;
  const auto now = Clock::now();
  if (phase_ == Phase::measure) {
    if (ready_links_ > 0 && ready == 0)
      no_link_since_ = now;
    if (ready_links_ == 0 && ready > 0)
      no_link_ms_ += std::chrono::duration<double, std::milli>(now - no_link_since_).count();
  }
  ready_links_ = ready;
  // Deliveries that found no link go out now.
  while (ready > 0 && !orphans_.empty()) {
    const long index = orphans_.front();
    orphans_.pop_front();
    send_command(index, 1);
  }
}

std::shared_ptr<Link> Bench::next_ready_link() {
  for (std::size_t tried = 0; tried < links_.size(); ++tried) {
    auto& link = links_[round_robin_++ % links_.size()];
    if (link->ready && !link->cut && !link->closing)
      return link;
  }
  return nullptr;
}

void Bench::queue_frame(const std::shared_ptr<Link>& link, std::string text, long index,
                        std::uint8_t opcode) {
  if (!link || link->closing || link->cut)
    return;
  link->queue.push_back(Link::Frame{std::move(text), index, opcode});
  if (!link->writing) {
    link->writing = true;
    asio::co_spawn(io_, write_frames(link), asio::detached);
  }
}

asio::awaitable<void> Bench::write_frames(std::shared_ptr<Link> link) {
  std::string out;
  while (!link->queue.empty()) {
    // Everything queued so far goes out in one write. Stamped as it goes to the socket: time
    // spent queued behind earlier frames is the fake's own delay, not the bot's.
    out.clear();
    bool hello = false;
    const auto now = now_ns();
    for (auto& frame : link->queue) {
      if (frame.index >= 0) {
        const auto at = static_cast<std::size_t>(frame.index);
        if (sent_at_[at] == 0)
          sent_at_[at] = now;
        sent_on_[at] = link->id;
      }
      hello = hello || frame.index == Link::kHello;
      link->closing = link->closing || frame.opcode == 0x8;
      append_frame(out, frame.opcode, frame.text);
    }
    link->queue.clear();
    auto [ec, written] =
        co_await asio::async_write(link->ws.next_layer(), asio::buffer(out), kTuple);
    (void)written;
    if (ec)
      break;
    if (hello) {
      link->ready = true;
      ready_links_changed();
      on_connected();
    }
    if (link->cut_after_write) {
      cut_link(link);
      break;
    }
  }
  link->writing = false;
}

void Bench::on_connected() {
  if (phase_ != Phase::starting)
    return;
  const int started = static_cast<int>(children_.size());
  if (started < options_.replicas && ready_links_ >= options_.connections * started) {
    if (!spawn_shipmate(started))
      abort_run("cannot start replica " + std::to_string(started));
    return;
  }
  if (ready_links_ < links_wanted())
    return;
  if (options_.warmup == 0) {
    begin_measuring();
    return;
  }
  phase_ = Phase::warmup;
  const long first_batch = std::min<long>(options_.in_flight, options_.warmup);
  while (next_ < first_batch)
    send_command(next_++);
}

void Bench::send_command(long index, int retry_attempt) {
  auto link = next_ready_link();
  if (!link) {
    orphans_.push_back(index);
    return;
  }
  queue_frame(link, make_envelope(index, options_.channels, retry_attempt), index);
  if (options_.faults && ++envelope_frames_ % kCutEvery == 0)
    link->cut_after_write = true;
}

void Bench::on_ack(std::string_view frame) {
  const std::string_view id = string_field(frame, "envelope_id");
  long index = -1;
  if (id.starts_with(kEnvelopePrefix)) {
    const auto digits = id.substr(kEnvelopePrefix.size());
    if (std::from_chars(digits.data(), digits.data() + digits.size(), index).ec != std::errc())
      index = -1;
  }
  if (index < 0 || index >= total_ || sent_at_[static_cast<std::size_t>(index)] == 0) {
    ++stray_acks_;
    return;
  }
  const bool second_delivery = id.find("-r") != std::string_view::npos;
  auto& acked = acked_at_[static_cast<std::size_t>(index)];
  if (second_delivery)
    ++redelivery_acks_;
  if (acked != 0) {
    if (!second_delivery)
      ++duplicate_acks_;
    return;
  }
  acked = now_ns();
  if (options_.faults && !second_delivery && index % kDuplicateEvery == kDuplicateEvery / 2) {
    // Slack delivers some events twice; the bot must ack the second and not answer it.
    ++duplicated_;
    send_command(index, 1);
  }
  if (replied_at_[static_cast<std::size_t>(index)] != 0)
    settle(index);
}

void Bench::on_reply(std::string_view body) {
  const long index = index_of_ts(string_field(body, "thread_ts"));
  if (index < 0 || index >= total_ || sent_at_[static_cast<std::size_t>(index)] == 0 ||
      replied_at_[static_cast<std::size_t>(index)] != 0) {
    ++stray_replies_;
    return;
  }
  if (string_field(body, "text").find("pong") == std::string_view::npos)
    ++wrong_replies_;
  replied_at_[static_cast<std::size_t>(index)] = now_ns();
  if (acked_at_[static_cast<std::size_t>(index)] != 0)
    settle(index);
}

void Bench::remember_reply(std::string_view body, const std::string& ts) {
  const long index = index_of_ts(string_field(body, "thread_ts"));
  if (index < 0 || index >= total_)
    return;
  if (thread_replies_.empty())
    thread_replies_.resize(static_cast<std::size_t>(total_));
  // The metadata's payload: {"event_type":"shipmate_reply","event_payload":{"key":"..."}}.
  const auto payload = body.find("\"event_payload\"");
  const std::string key(payload == std::string_view::npos
                            ? std::string_view()
                            : string_field(body.substr(payload), "key"));
  thread_replies_[static_cast<std::size_t>(index)].emplace_back(ts, key);
}

// conversations.replies of a command's thread (form-encoded `ts=`): the mention and the replies
// posted in it, each with its metadata, in one page.
std::string Bench::thread_replies(std::string_view form) {
  std::string thread;
  for (std::size_t at = 0; at < form.size();) {
    const std::size_t end = std::min(form.find('&', at), form.size());
    const std::string_view pair = form.substr(at, end - at);
    if (pair.starts_with("ts=")) {
      for (std::size_t i = 3; i < pair.size(); ++i) {
        if (pair[i] == '%' && i + 2 < pair.size()) {
          thread += static_cast<char>(std::stoi(std::string(pair.substr(i + 1, 2)), nullptr, 16));
          i += 2;
        } else {
          thread += pair[i];
        }
      }
    }
    at = end + 1;
  }
  const long index = index_of_ts(thread);
  if (index < 0 || index >= total_)
    return "{\"ok\":false,\"error\":\"thread_not_found\"}";
  std::string out =
      "{\"ok\":true,\"has_more\":false,\"messages\":[{\"type\":\"message\",\"ts\":\"" + thread +
      "\",\"user\":\"UBENCH\",\"text\":\"<@UBOT> ping\"}";
  if (!thread_replies_.empty()) {
    for (const auto& [ts, key] : thread_replies_[static_cast<std::size_t>(index)]) {
      out += ",{\"type\":\"message\",\"ts\":\"" + ts + "\",\"thread_ts\":\"" + thread +
             "\",\"bot_id\":\"B1\",\"text\":\"pong\",\"metadata\":{\"event_type\":"
             "\"shipmate_reply\",\"event_payload\":{\"key\":\"" +
             key + "\"}}}";
    }
  }
  out += "]}";
  return out;
}

// Both the ack and the reply are in: the command is done and its slot goes to the next one.
void Bench::settle(long /*index*/) {
  ++settled_;
  if (phase_ == Phase::warmup) {
    if (next_ < options_.warmup)
      send_command(next_++);
    else if (settled_ == options_.warmup)
      begin_measuring();
  } else if (phase_ == Phase::measure) {
    if (!killed_ && options_.kill_after >= 0 && settled_ - options_.warmup >= options_.kill_after)
      kill_replica();
    if (options_.rate > 0) {
      if (settled_ == total_)
        end_measuring();  // pace() sent the last one already
    } else if (next_ < total_)
      send_command(next_++);
    else if (settled_ == total_)
      end_measuring();
  }
}

void Bench::begin_measuring() {
  phase_ = Phase::measure;
  if (options_.syscalls) {
    std::string why;
    if (!syscalls_.start(children_[0], dir_ / "strace.txt", why)) {
      abort_run("cannot count system calls: " + why);
      return;
    }
  }
  window_start_ = sample();
  if (ready_links_ == 0)
    no_link_since_ = Clock::now();
  if (options_.rate > 0) {
    asio::co_spawn(io_, pace(), asio::detached);
    return;
  }
  const long end = std::min<long>(total_, next_ + options_.in_flight);
  while (next_ < end)
    send_command(next_++);
}

asio::awaitable<void> Bench::pace() {
  asio::steady_timer timer(io_);
  const long first = next_;
  const std::int64_t start = now_ns();
  const double interval_ns = 1e9 / static_cast<double>(options_.rate);
  while (next_ < total_ && phase_ == Phase::measure) {
    const auto due =
        start + static_cast<std::int64_t>(static_cast<double>(next_ - first) * interval_ns);
    const std::int64_t now = now_ns();
    if (now < due) {
      timer.expires_at(Clock::time_point(std::chrono::nanoseconds(due)));
      auto [ec] = co_await timer.async_wait(kTuple);
      (void)ec;
      continue;
    }
    // Every command whose time has come goes now, stamped with its scheduled time.
    most_send_lag_ns_ = std::max(most_send_lag_ns_, now - due);
    sent_at_[static_cast<std::size_t>(next_)] = due;
    send_command(next_++);
    const long outstanding = next_ - settled_;
    most_outstanding_ = std::max(most_outstanding_, outstanding);
    if (outstanding > options_.max_outstanding) {
      char why[200];
      std::snprintf(why, sizeof why,
                    "cannot keep up with %ld commands/s: %ld commands unanswered (bound %ld) "
                    "after %ld of %ld were sent",
                    options_.rate, outstanding, options_.max_outstanding, next_ - first,
                    options_.commands);
      abort_run(why);
      co_return;
    }
  }
}

void Bench::end_measuring() {
  window_end_ = sample();
  if (ready_links_ == 0)
    no_link_ms_ +=
        std::chrono::duration<double, std::milli>(window_end_.at - no_link_since_).count();
  if (options_.syscalls)
    syscall_counts_ = syscalls_.stop();
  for (std::size_t i = 0; i < children_.size(); ++i) {
    if (killed_ && i == 0)
      continue;
    const std::string pid = std::to_string(children_[i]);
    bot_peak_rss_kb_ = std::max(bot_peak_rss_kb_, status_kb(pid, "VmHWM"));
    bot_rss_kb_ = std::max(bot_rss_kb_, status_kb(pid, "VmRSS"));
  }
  // After a kill the survivors run on until one has taken r0's work over (it waits for r0's
  // lease and the grace to pass), so that the takeover is part of the run.
  if (killed_ && failure_.empty() && first_log_line_after_kill("from replica r0") < 0 &&
      Clock::now() - killed_at_ < kTakeoverLimit) {
    phase_ = Phase::awaiting_takeover;
    return;
  }
  stop_replicas();
}

void Bench::stop_replicas() {
  phase_ = Phase::stopping;
  stop_sent_ = Clock::now();
  signal_replicas(SIGTERM);
}

void Bench::signal_replicas(int signal) {
  for (std::size_t i = 0; i < children_.size(); ++i) {
    if (!child_exited_[i])
      kill(children_[i], signal);
  }
}

bool Bench::all_exited() const {
  return std::all_of(child_exited_.begin(), child_exited_.end(),
                     [](bool exited) { return exited; });
}

void Bench::abort_run(const std::string& why) {
  if (!failure_.empty() || phase_ == Phase::done)
    return;
  failure_ = why;
  if (!children_.empty() && !all_exited()) {
    phase_ = Phase::stopping;
    stop_sent_ = Clock::now();
    signal_replicas(SIGTERM);
  } else {
    phase_ = Phase::done;
    io_.stop();
  }
}

// Watches the child and the clock: the run always ends by itself.
asio::awaitable<void> Bench::supervise() {
  asio::steady_timer timer(io_);
  const auto deadline = started_ + std::chrono::seconds(options_.timeout_s);
  for (;;) {
    timer.expires_after(kPollInterval);
    auto [ec] = co_await timer.async_wait(kTuple);
    (void)ec;
    for (std::size_t i = 0; i < children_.size(); ++i) {
      if (!child_exited_[i] && waitpid(children_[i], &child_status_[i], WNOHANG) == children_[i]) {
        child_exited_[i] = true;
        if (phase_ != Phase::stopping && !(killed_ && i == 0))
          abort_run("shipmate exited before the run finished");
      }
    }
    if (all_exited()) {
      phase_ = Phase::done;
      acceptor_.close();
      for (const auto& link : links_) {
        boost::system::error_code ignored;
        link->ws.next_layer().close(ignored);
      }
      io_.stop();
      co_return;
    }
    const auto now = Clock::now();
    if (phase_ == Phase::starting && now - started_ > options_.startup_limit) {
      abort_run("shipmate did not open a Socket Mode connection within " +
                std::to_string(options_.startup_limit.count()) + " s");
    } else if ((phase_ == Phase::warmup || phase_ == Phase::measure) && now > deadline) {
      char why[160];
      std::snprintf(why, sizeof why, "timed out after %d s with %ld of %ld commands done",
                    options_.timeout_s, settled_, total_);
      abort_run(why);
    } else if (phase_ == Phase::awaiting_takeover &&
               (now - killed_at_ > kTakeoverLimit ||
                first_log_line_after_kill("from replica r0") >= 0)) {
      stop_replicas();
    } else if (phase_ == Phase::stopping && now - stop_sent_ > kShutdownLimit) {
      signal_replicas(SIGKILL);
      if (failure_.empty())
        failure_ = "shipmate did not stop within 25 s of SIGTERM (killed)";
    }
  }
}

std::string Bench::bot_log_tail() const {
  std::string all;
  for (int replica = 0; replica < options_.replicas; ++replica) {
    if (options_.replicas > 1)
      all += "  replica r" + std::to_string(replica) + ":\n";
    all += log_tail(replica);
  }
  return all;
}

// Milliseconds from the kill to the first line of a surviving replica's log that contains
// `needle`, by the line's time stamp (spdlog's "2026-12-07 09:06:25.101", local time); -1 when
// no survivor logged one.
double Bench::first_log_line_after_kill(std::string_view needle) const {
  double first = -1;
  for (int replica = 1; replica < options_.replicas; ++replica) {
    std::ifstream file(dir_ / log_name(replica));
    std::string line;
    while (std::getline(file, line)) {
      if (line.find(needle) == std::string::npos)
        continue;
      std::tm parts{};
      int millis = 0;
      if (std::sscanf(line.c_str(), "%d-%d-%d %d:%d:%d.%d", &parts.tm_year, &parts.tm_mon,
                      &parts.tm_mday, &parts.tm_hour, &parts.tm_min, &parts.tm_sec, &millis) != 7)
        continue;
      parts.tm_year -= 1900;
      parts.tm_mon -= 1;
      parts.tm_isdst = -1;
      const auto at = std::chrono::system_clock::from_time_t(std::mktime(&parts)) +
                      std::chrono::milliseconds(millis);
      const double ms = std::chrono::duration<double, std::milli>(at - killed_wall_).count();
      if (first < 0 || ms < first)
        first = ms;
      break;
    }
  }
  return first;
}

std::string Bench::log_tail(int replica) const {
  std::ifstream file(dir_ / log_name(replica));
  std::deque<std::string> lines;
  std::string line;
  while (std::getline(file, line)) {
    lines.push_back(line);
    if (lines.size() > 20)
      lines.pop_front();
  }
  std::string out;
  for (const auto& kept : lines)
    out += "  | " + kept + "\n";
  return out;
}

int Bench::run() {
  if (options_.postgres) {
    try {
      postgres_ = std::make_unique<shipmate::testing::PostgresServer>();
      database_uri_ = postgres_->fresh_database();
      if (options_.durable && !make_durable(database_uri_))
        throw std::runtime_error("cannot turn fsync and synchronous_commit on");
      if (!set_database_defaults(database_uri_, options_.postgres_settings))
        throw std::runtime_error("cannot apply --postgres-set");
    } catch (const std::exception& e) {
      std::fprintf(stderr, "shipmate_slack_bench: cannot start PostgreSQL: %s\n", e.what());
      return 2;
    }
  }
  for (int replica = 0; replica < options_.replicas; ++replica) {
    if (!write_config(replica)) {
      std::fprintf(stderr, "shipmate_slack_bench: cannot write %s\n", dir_.c_str());
      return 2;
    }
  }
  // Replica 0 first: on a fresh database it applies the schema; the next one starts once the
  // previous one's links are ready (on_connected).
  started_ = Clock::now();  // the start-up limit counts from the first replica, not initdb
  if (!spawn_shipmate(0))
    return 2;
  asio::co_spawn(io_, accept_loop(), asio::detached);
  asio::co_spawn(io_, supervise(), asio::detached);
  io_.run();
  return report();
}

int Bench::report() {
  const auto& o = options_;
  std::printf("shipmate_slack_bench: %s\n", o.shipmate.c_str());
  std::printf(
      "  %ld commands measured after %ld warm-up, %s, spread over %d channels\n"
      "  (slack: connections %d, reply_interval 0ms, reply_burst 1000: per-channel reply pacing\n"
      "  is opened up so that it does not throttle the run)%s\n",
      o.commands, o.warmup,
      (o.rate > 0 ? "open loop at " + std::to_string(o.rate) + "/s (warm-up " +
                        std::to_string(o.in_flight) + " in flight)"
                  : std::to_string(o.in_flight) + " in flight")
          .c_str(),
      o.channels, o.connections,
      o.faults
          ? "\n  fault profile: a cut every 500 envelopes, every 100th command delivered twice, "
            "every 2000th chat.postMessage answered 429 (Retry-After: 1)"
          : "");
  std::printf("  database: %s, %d replica(s)%s\n",
              !o.postgres ? "SQLite"
              : o.durable ? "PostgreSQL 15 (throwaway: Unix socket, fsync, synchronous_commit and "
                            "full_page_writes on)"
                          : "PostgreSQL 15 (throwaway: Unix socket, fsync, synchronous_commit and "
                            "full_page_writes off)",
              o.replicas, o.lease.empty() ? "" : (", replica_lease " + o.lease).c_str());
  bool shipmate_ok = all_exited();
  for (std::size_t i = 0; i < children_.size(); ++i) {
    if (killed_ && i == 0)
      continue;
    shipmate_ok = shipmate_ok && WIFEXITED(child_status_[i]) && WEXITSTATUS(child_status_[i]) == 0;
  }
  int shown_status = 0;
  for (std::size_t i = 0; i < children_.size(); ++i) {
    if (!(killed_ && i == 0) && child_status_[i] != 0)
      shown_status = child_status_[i];
  }
  if (settled_ != total_) {
    std::printf("FAILED: %s (%ld of %ld commands done)\nshipmate log (last lines):\n%s",
                failure_.empty() ? "incomplete run" : failure_.c_str(), settled_, total_,
                bot_log_tail().c_str());
    return 1;
  }

  std::vector<std::int64_t> ack_ns;
  std::vector<std::int64_t> reply_ns;
  ack_ns.reserve(static_cast<std::size_t>(o.commands));
  reply_ns.reserve(static_cast<std::size_t>(o.commands));
  for (long i = o.warmup; i < total_; ++i) {
    const auto at = static_cast<std::size_t>(i);
    ack_ns.push_back(acked_at_[at] - sent_at_[at]);
    reply_ns.push_back(replied_at_[at] - sent_at_[at]);
  }
  const Percentiles ack = percentiles(std::move(ack_ns));
  const Percentiles reply = percentiles(std::move(reply_ns));
  const double wall = std::chrono::duration<double>(window_end_.at - window_start_.at).count();
  const double rate = static_cast<double>(o.commands) / wall;
  const bool rate_kept = o.rate == 0 || rate >= 0.95 * static_cast<double>(o.rate);
  const double bot_cpu = window_end_.bot_cpu - window_start_.bot_cpu;
  const double own_cpu = window_end_.own_cpu - window_start_.own_cpu;
  const double per_command = 1e6 / static_cast<double>(o.commands);
  const long connections = window_end_.http_connections - window_start_.http_connections;
  const long requests = window_end_.http_requests - window_start_.http_requests;

  std::printf("throughput         %.0f commands/s (%ld in %.3f s)\n", rate, o.commands, wall);
  if (o.rate > 0) {
    std::printf(
        "open loop          %ld/s scheduled, %.0f/s achieved (%.1f%%), at most %ld unanswered "
        "(bound %ld), sends at most %.3f ms behind schedule; latencies count from the "
        "scheduled time\n",
        o.rate, rate, 100 * rate / static_cast<double>(o.rate), most_outstanding_,
        o.max_outstanding, static_cast<double>(most_send_lag_ns_) / 1e6);
  }
  std::printf("envelope -> ack    p50 %.3f ms  p90 %.3f ms  p99 %.3f ms  max %.3f ms\n", ack.p50,
              ack.p90, ack.p99, ack.max);
  std::printf("envelope -> reply  p50 %.3f ms  p90 %.3f ms  p99 %.3f ms  max %.3f ms\n", reply.p50,
              reply.p90, reply.p99, reply.max);
  std::printf(
      "shipmate           peak RSS %.1f MB (RSS at end %.1f MB), CPU %.1f us/command "
      "(%.0f%% of a core)\n",
      static_cast<double>(bot_peak_rss_kb_) / 1024, static_cast<double>(bot_rss_kb_) / 1024,
      bot_cpu * per_command, 100 * bot_cpu / wall);
  std::printf("fake Slack + bench CPU %.1f us/command (%.0f%% of a core)\n", own_cpu * per_command,
              100 * own_cpu / wall);
  std::printf("together           CPU %.1f us/command (%.0f%% of the 2 cores)\n",
              (bot_cpu + own_cpu) * per_command, 50 * (bot_cpu + own_cpu) / wall);
  std::printf("web API            %ld requests on %ld new HTTP connections during the window\n",
              requests, connections);
  // Commits: read again once every replica has exited, because each PostgreSQL backend
  // publishes its counters at most about once a second and at the latest when it ends.
  long long commits = -1;
  double postgres_cpu = 0;
  std::string seq_scans_json = "{";
  if (postgres_) {
    const long long final_commits = database_commits(database_uri_);
    if (window_start_.commits >= 0 && final_commits >= 0)
      commits = final_commits - window_start_.commits;
    postgres_cpu = window_end_.postgres_cpu - window_start_.postgres_cpu;
    std::printf("PostgreSQL CPU     %.1f us/command (%.0f%% of a core)\n",
                postgres_cpu * per_command, 100 * postgres_cpu / wall);
    std::printf(
        "commits            %.2f per command, %.0f/s (xact_commit from the window's start "
        "until every replica exited)\n",
        static_cast<double>(commits) / static_cast<double>(o.commands),
        static_cast<double>(commits) / wall);
    std::printf("replicas + PostgreSQL CPU %.1f us/command\n",
                (bot_cpu + postgres_cpu) * per_command);
    // Sequential scans in the window (until every replica exited), of each table that had any.
    std::string scanned;
    for (const auto& [table, count] : sequential_scans(database_uri_)) {
      long long before = 0;
      for (const auto& [start_table, start_count] : window_start_.seq_scans) {
        if (start_table == table)
          before = start_count;
      }
      if (count > before) {
        scanned += (scanned.empty() ? "" : ", ") + table + " " + std::to_string(count - before);
        seq_scans_json += (seq_scans_json.size() > 1 ? ",\"" : "\"") + table +
                          "\":" + std::to_string(count - before);
      }
    }
    std::printf(
        "sequential scans   %s (pg_stat_user_tables, the window until every replica "
        "exited)\n",
        scanned.empty() ? "none" : scanned.c_str());
  }
  double takeover_ms = -1;
  double answered_ms = -1;
  double slowest_near_kill_ms = -1;
  if (killed_) {
    // Kill to takeover: until a survivor logged that it adopted work of r0 (its unconfirmed
    // replies or pending commands: "... adopted from replica r0"), which it does once r0's lease
    // and the grace have passed. Kill to answered: until the last command that was outstanding
    // at the kill was answered (acked and replied), by the survivor. The slowest reply around the
    // kill: the longest envelope -> reply of any command sent within a second either side of it.
    takeover_ms = first_log_line_after_kill("from replica r0");
    std::int64_t last = killed_ns_;
    for (const long index : outstanding_at_kill_) {
      const auto at = static_cast<std::size_t>(index);
      last = std::max({last, acked_at_[at], replied_at_[at]});
    }
    answered_ms = static_cast<double>(last - killed_ns_) / 1e6;
    std::int64_t slowest = 0;
    for (long i = o.warmup; i < total_; ++i) {
      const auto at = static_cast<std::size_t>(i);
      if (std::llabs(sent_at_[at] - killed_ns_) <= 1'000'000'000LL)
        slowest = std::max(slowest, replied_at_[at] - sent_at_[at]);
    }
    slowest_near_kill_ms = static_cast<double>(slowest) / 1e6;
    std::printf(
        "failover           replica r0 SIGKILLed after %ld measured commands; a survivor took "
        "its work over %.0f ms after the kill (-1: it left none); %zu commands were outstanding "
        "then, the last of them answered %.0f ms after the kill; slowest reply of a command sent "
        "within 1 s of the kill %.0f ms; %ld envelopes redelivered to the survivor\n",
        o.kill_after, takeover_ms, outstanding_at_kill_.size(), answered_ms, slowest_near_kill_ms,
        redelivered_);
  }
  if (o.faults) {
    std::printf(
        "faults             %ld cuts, %ld envelopes redelivered after them, %ld commands delivered "
        "twice (%ld second deliveries acked), %ld replies answered 429; Socket Mode links "
        "accepted %ld\n",
        cuts_, redelivered_, duplicated_, redelivery_acks_, rate_limited_, links_accepted_);
    std::printf("no open link       %.1f ms of the window without a ready Socket Mode link\n",
                no_link_ms_);
  }
  long syscall_total = 0;
  for (const auto& [name, calls] : syscall_counts_)
    syscall_total += calls;
  std::string syscalls_json = "null";
  if (o.syscalls) {
    std::string detail;
    syscalls_json = "{";
    for (const auto& [name, calls] : syscall_counts_) {
      const double each = static_cast<double>(calls) / static_cast<double>(o.commands);
      char part[96];
      if (each >= 0.05) {
        std::snprintf(part, sizeof part, "%s%s %.2f", detail.empty() ? "" : ", ", name.c_str(),
                      each);
        detail += part;
      }
      std::snprintf(part, sizeof part, "%s\"%s\":%.3f", syscalls_json.size() > 1 ? "," : "",
                    name.c_str(), each);
      syscalls_json += part;
    }
    syscalls_json += "}";
    std::printf("system calls       %.2f per command (%s)\n",
                static_cast<double>(syscall_total) / static_cast<double>(o.commands),
                detail.c_str());
    std::printf(
        "                   counted under strace, which slows every call: this run's times and\n"
        "                   CPU are not comparable with a run without --syscalls\n");
  }

  const bool clean =
      failure_.empty() && rate_kept && duplicate_acks_ == 0 && stray_acks_ == 0 &&
      stray_replies_ == 0 && wrong_replies_ == 0 && unknown_methods_ == 0 &&
      (options_.faults ? links_accepted_ >= links_wanted() : links_accepted_ == links_wanted());
  if (!clean) {
    std::printf(
        "PROBLEMS: %ld duplicate acks, %ld stray acks, %ld stray replies, %ld replies "
        "without 'pong', %ld unknown methods, %ld Socket Mode connections\n",
        duplicate_acks_, stray_acks_, stray_replies_, wrong_replies_, unknown_methods_,
        links_accepted_);
  }
  if (!failure_.empty())
    std::printf("PROBLEM: %s\n", failure_.c_str());
  if (!rate_kept)
    std::printf("PROBLEM: achieved %.0f commands/s, under 95%% of the --rate %ld\n", rate, o.rate);
  if (!shipmate_ok) {
    std::printf("PROBLEM: shipmate did not exit cleanly after SIGTERM (status %d)\n%s",
                shown_status, bot_log_tail().c_str());
  }

  std::printf(
      "targets            >=30000/s %s, p99 ack <1 ms %s, p99 reply <5 ms %s, "
      "peak RSS <20 MB %s\n",
      rate >= 30000 ? "met" : "MISSED", ack.p99 < 1 ? "met" : "MISSED",
      reply.p99 < 5 ? "met" : "MISSED", bot_peak_rss_kb_ < 20 * 1024 ? "met" : "MISSED");
  if (o.replicas > 1) {
    std::printf("HA targets         >=5000/s %s, p99 ack <5 ms %s%s\n",
                rate >= 5000 ? "met" : "MISSED", ack.p99 < 5 ? "met" : "MISSED",
                killed_ ? (takeover_ms >= 0 && takeover_ms < 10000 ? ", takeover <10 s met"
                                                                   : ", takeover <10 s MISSED")
                        : "");
  }

  std::printf(
      "{\"bench\":\"shipmate_slack\",\"commands\":%ld,\"warmup\":%ld,\"in_flight\":%d,"
      "\"channels\":%d,\"seconds\":%.3f,\"commands_per_s\":%.0f,\"ack_ms\":%s,\"reply_ms\":%s,"
      "\"shipmate_peak_rss_kb\":%ld,\"shipmate_cpu_us_per_command\":%.2f,"
      "\"bench_cpu_us_per_command\":%.2f,\"http_connections\":%ld,"
      "\"syscalls_per_command\":%s,\"syscalls\":%s,\"connections\":%d,\"faults\":%s,"
      "\"cuts\":%ld,\"no_link_ms\":%.1f,\"database\":\"%s%s\",\"replicas\":%d,"
      "\"postgres_cpu_us_per_command\":%.2f,\"commits_per_command\":%.3f,\"takeover_ms\":%.0f,"
      "\"answered_after_kill_ms\":%.0f,"
      "\"slowest_reply_near_kill_ms\":%.0f,\"rate\":%ld,\"most_outstanding\":%ld,"
      "\"most_send_lag_ms\":%.3f,\"seq_scans\":%s},\"clean\":%s}\n",
      o.commands, o.warmup, o.in_flight, o.channels, wall, rate, percentiles_json(ack).c_str(),
      percentiles_json(reply).c_str(), bot_peak_rss_kb_, bot_cpu * per_command,
      own_cpu * per_command, connections,
      o.syscalls
          ? std::to_string(static_cast<double>(syscall_total) / static_cast<double>(o.commands))
                .c_str()
          : "null",
      syscalls_json.c_str(), o.connections, o.faults ? "true" : "false", cuts_, no_link_ms_,
      o.postgres ? "postgresql" : "sqlite", o.durable ? "-durable" : "", o.replicas,
      postgres_cpu * per_command, static_cast<double>(commits) / static_cast<double>(o.commands),
      takeover_ms, answered_ms, slowest_near_kill_ms, o.rate, most_outstanding_,
      static_cast<double>(most_send_lag_ns_) / 1e6, seq_scans_json.c_str(),
      clean && shipmate_ok ? "true" : "false");
  return clean && shipmate_ok ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  auto options = parse_options(argc, argv);
  if (!options)
    return 2;
  if (options->shipmate.empty()) {
    std::error_code ec;
    const fs::path self = fs::canonical("/proc/self/exe", ec);
    options->shipmate = (self.parent_path().parent_path() / "shipmate").string();
  }
  // Absolute: each replica runs in a directory of its own, where a relative path means nothing.
  {
    std::error_code ec;
    const fs::path absolute = fs::absolute(options->shipmate, ec);
    if (!ec)
      options->shipmate = absolute.string();
  }
  if (access(options->shipmate.c_str(), X_OK) != 0) {
    std::fprintf(stderr,
                 "shipmate_slack_bench: %s is not an executable; build it or pass --shipmate\n",
                 options->shipmate.c_str());
    return 2;
  }
  std::string pattern = (fs::temp_directory_path() / "shipmate-slack-bench-XXXXXX").string();
  if (mkdtemp(pattern.data()) == nullptr) {
    std::perror("shipmate_slack_bench: mkdtemp");
    return 2;
  }
  const fs::path dir = pattern;
  int status = 2;
  {
    Bench bench(*options, dir);
    status = bench.run();
  }
  std::error_code ignored;
  if (options->keep)
    std::printf("kept %s\n", dir.c_str());
  else
    fs::remove_all(dir, ignored);
  return status;
}
