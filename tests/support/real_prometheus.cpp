#include "tests/support/real_prometheus.h"

#include <unistd.h>

#include <charconv>
#include <cmath>
#include <cstdlib>
#include <map>
#include <mutex>
#include <thread>
#include <utility>

#include <boost/json.hpp>

#include "integrations/process.h"
#include "tests/support/test_support.h"

namespace shipmate::testing {

namespace json = boost::json;
using std::chrono::milliseconds;

namespace {

constexpr milliseconds kPollInterval{50};
constexpr milliseconds kStopGrace{3000};

std::string format_value(double value) {
  if (std::isnan(value))
    return "NaN";
  if (std::isinf(value))
    return value > 0 ? "+Inf" : "-Inf";
  char buffer[64];
  auto [end, ec] = std::to_chars(buffer, buffer + sizeof buffer, value);
  return ec == std::errc() ? std::string(buffer, end) : std::to_string(value);
}

// Prometheus durations take integer units: "200ms", "1s".
std::string format_duration(milliseconds duration) {
  return std::to_string(duration.count()) + "ms";
}

std::string url_encode(const std::string& text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : text) {
    if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
        c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

std::string tail(const std::string& text, std::size_t max = 2000) {
  return text.size() <= max ? text : "..." + text.substr(text.size() - max);
}

// Every sample value in an instant query answer (vector or scalar).
std::vector<double> sample_values(const std::string& body) {
  std::vector<double> values;
  boost::system::error_code ec;
  json::value parsed = json::parse(body, ec);
  if (ec || !parsed.is_object())
    return values;
  const json::value* data = parsed.get_object().if_contains("data");
  if (!data || !data->is_object())
    return values;
  const json::value* type = data->get_object().if_contains("resultType");
  const json::value* result = data->get_object().if_contains("result");
  if (!type || !type->is_string() || !result)
    return values;
  auto read = [&](const json::value& pair) {
    if (pair.is_array() && pair.get_array().size() == 2 && pair.get_array()[1].is_string())
      values.push_back(std::strtod(pair.get_array()[1].get_string().c_str(), nullptr));
  };
  if (type->get_string() == "scalar") {
    read(*result);
  } else if (type->get_string() == "vector" && result->is_array()) {
    for (const auto& item : result->get_array()) {
      if (const json::value* value =
              item.is_object() ? item.get_object().if_contains("value") : nullptr) {
        read(*value);
      }
    }
  }
  return values;
}

}  // namespace

struct MetricsExporter::State {
  mutable std::mutex mutex;
  std::map<std::string, double> series;
  std::size_t scrapes = 0;

  std::string exposition() const {
    std::string text;
    for (const auto& [name, value] : series)
      text += name + " " + format_value(value) + "\n";
    return text;
  }
};

MetricsExporter::MetricsExporter() : state_(std::make_shared<State>()) {
  server_ = std::make_unique<FakeHttpServer>([state = state_](const FakeRequest& request) {
    if (request.method != "GET" || request.path != "/metrics")
      return FakeResponse::text(404, "not found\n");
    std::lock_guard lock(state->mutex);
    ++state->scrapes;
    FakeResponse response;
    response.headers.emplace_back("Content-Type", "text/plain; version=0.0.4; charset=utf-8");
    response.body = state->exposition();
    return response;
  });
}

MetricsExporter::~MetricsExporter() {
  server_.reset();
}

void MetricsExporter::set(const std::string& series, double value) {
  std::lock_guard lock(state_->mutex);
  state_->series[series] = value;
}

void MetricsExporter::remove(const std::string& series) {
  std::lock_guard lock(state_->mutex);
  state_->series.erase(series);
}

std::string MetricsExporter::target() const {
  return "127.0.0.1:" + std::to_string(server_->port());
}

std::size_t MetricsExporter::scrapes() const {
  std::lock_guard lock(state_->mutex);
  return state_->scrapes;
}

std::string MetricsExporter::exposition() const {
  std::lock_guard lock(state_->mutex);
  return state_->exposition();
}

std::string RealPrometheus::find_binary() {
  if (const char* configured = std::getenv("SHIPMATE_PROMETHEUS"); configured && *configured)
    return ::access(configured, X_OK) == 0 ? std::string(configured) : std::string();
  return ::access("/usr/bin/prometheus", X_OK) == 0 ? "/usr/bin/prometheus" : "";
}

Result<std::unique_ptr<RealPrometheus>> RealPrometheus::start(Options options) {
  const std::string binary = find_binary();
  if (binary.empty())
    return make_error("no prometheus executable (install the Debian package `prometheus`)");
  std::unique_ptr<RealPrometheus> self(new RealPrometheus());
  self->dir_ = std::make_unique<TempDir>();
  self->port_ = free_port();
  const std::string interval = format_duration(options.scrape_interval);
  std::string config = "global:\n  scrape_interval: " + interval +
                       "\n  scrape_timeout: " + interval + "\n  evaluation_interval: 1s\n";
  if (!options.targets.empty()) {
    config +=
        "scrape_configs:\n  - job_name: shipmate_test\n    static_configs:\n"
        "      - targets: [";
    for (std::size_t i = 0; i < options.targets.size(); ++i)
      config += (i ? ", '" : "'") + options.targets[i] + "'";
    config += "]\n";
  }
  write_file(self->dir_->file("prometheus.yml"), config);

  integrations::ProcessSpec spec;
  spec.argv = {binary, "--config.file=" + self->dir_->file("prometheus.yml"),
               "--storage.tsdb.path=" + self->dir_->file("data"),
               "--web.listen-address=127.0.0.1:" + std::to_string(self->port_), "--log.level=warn",
               // Hidden flag: how often the scrape manager applies new targets (default 5 s).
               // Without it the first scrape can wait for a second 5 s tick.
               "--scrape.discovery-reload-interval=100ms"};
  spec.cwd = self->dir_->path();
  spec.log_path = self->dir_->file("prometheus.log");
  auto started = integrations::ChildProcess::start(spec);
  if (!started)
    return make_error("cannot start " + binary + ": " + started.error().message);
  self->process_ = std::move(*started);

  const auto deadline = std::chrono::steady_clock::now() + options.ready_timeout;
  while (true) {
    if (auto status = self->process_->poll()) {
      return make_error("prometheus " + status->describe() +
                        " before it was ready: " + tail(self->log()));
    }
    auto ready = http_get(self->port_, "/-/ready", milliseconds(500));
    if (ready && ready->status == 200)
      return self;
    if (std::chrono::steady_clock::now() > deadline) {
      return make_error("prometheus was not ready after " +
                        std::to_string(options.ready_timeout.count()) +
                        " ms: " + tail(self->log()));
    }
    std::this_thread::sleep_for(kPollInterval);
  }
}

RealPrometheus::~RealPrometheus() {
  if (process_)
    process_->stop_now(kStopGrace);
  process_.reset();
  dir_.reset();
}

std::string RealPrometheus::base_url() const {
  return "http://127.0.0.1:" + std::to_string(port_);
}

int RealPrometheus::pid() const {
  return process_ ? process_->pid() : -1;
}

std::string RealPrometheus::log() const {
  return read_file(dir_->file("prometheus.log"));
}

std::optional<double> RealPrometheus::wait_for_value(const std::string& query,
                                                     const std::function<bool(double)>& predicate,
                                                     milliseconds timeout) {
  const std::string path = "/api/v1/query?query=" + url_encode(query);
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    if (auto answer = http_get(port_, path, milliseconds(1000)); answer && answer->status == 200) {
      for (double value : sample_values(answer->body)) {
        if (predicate(value))
          return value;
      }
    }
    if (std::chrono::steady_clock::now() > deadline)
      return std::nullopt;
    std::this_thread::sleep_for(kPollInterval);
  }
}

}  // namespace shipmate::testing
