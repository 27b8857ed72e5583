// Metrics: counters, gauges and histograms, rendered in the Prometheus text exposition format
// (version 0.0.4) for GET /metrics (bot/ops_server.h).
//
// Contract
// - Hot paths are allocation-free and lock-free: a Counter, Gauge or Histogram is plain atomics
//   (relaxed), updated from any thread. Looking a series up by its label values (Registry::counter
//   and friends) takes a mutex and allocates on first use, so callers look a series up once and
//   keep the reference; references stay valid for the Registry's lifetime.
// - Families: a name is registered once with its help, type and label names; asking for the same
//   name with another type or other label names throws std::logic_error (a programming error).
//   Names must match [a-zA-Z_:][a-zA-Z0-9_:]*, label names [a-zA-Z_][a-zA-Z0-9_]* and not start
//   with "__"; both are checked at registration (std::invalid_argument).
// - Gauge functions and function families are called at render time, on the rendering thread
//   (the event loop for /metrics); they must be quick. A family function answering label values
//   of the wrong arity is a programming error (std::logic_error from render()).
// - render(): families in registration order, each with `# HELP` (backslash and newline escaped)
//   and `# TYPE`, then its series in creation order; label values escaped (\\, \", \n);
//   histograms as cumulative `_bucket{le="..."}` series ending at le="+Inf", then `_sum` and
//   `_count`. Values print in the shortest form that reads back exactly; NaN and infinities as
//   Prometheus spells them.
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace shipmate::metrics {

class Counter {
 public:
  void inc(std::uint64_t by = 1) { value_.fetch_add(by, std::memory_order_relaxed); }
  std::uint64_t value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<std::uint64_t> value_{0};
};

class Gauge {
 public:
  void set(std::int64_t value) { value_.store(value, std::memory_order_relaxed); }
  void add(std::int64_t by) { value_.fetch_add(by, std::memory_order_relaxed); }
  std::int64_t value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<std::int64_t> value_{0};
};

// Buckets by upper bound in seconds (ascending); observations are kept in nanoseconds.
class Histogram {
 public:
  explicit Histogram(std::vector<double> bounds);
  void observe_seconds(double seconds);
  void observe_nanoseconds(std::int64_t nanoseconds);

  const std::vector<double>& bounds() const { return bounds_; }
  // Non-cumulative count of bucket i (i == bounds().size(): above the last bound).
  std::uint64_t bucket(std::size_t i) const { return counts_[i].load(std::memory_order_relaxed); }
  std::uint64_t count() const { return count_.load(std::memory_order_relaxed); }
  double sum_seconds() const;

 private:
  std::vector<double> bounds_;
  std::vector<std::int64_t> bounds_ns_;
  std::unique_ptr<std::atomic<std::uint64_t>[]> counts_;
  std::atomic<std::uint64_t> count_{0};
  std::atomic<std::int64_t> sum_ns_{0};
};

// Calls to an outside API by method and HTTP status (0: no answer: a transport error), kept by
// the client that makes them and read at scrape time. One thread (the client's); a pair's first
// call allocates its method name, later calls only search the few pairs there are.
struct CallCount {
  std::string method;
  int status = 0;
  std::uint64_t count = 0;
};
class CallCounts {
 public:
  void count(std::string_view method, int status) {
    for (auto& one : counts_) {
      if (one.status == status && one.method == method) {
        ++one.count;
        return;
      }
    }
    counts_.push_back(CallCount{std::string(method), status, 1});
  }
  const std::vector<CallCount>& all() const { return counts_; }

 private:
  std::vector<CallCount> counts_;
};

// Bounds for latencies from 1 ms to 60 s, and for short ones from 50 µs to 1 s.
std::vector<double> latency_buckets();
std::vector<double> short_latency_buckets();

// "a\"b" for a"b: a label value as it appears between the quotes.
std::string escape_label_value(std::string_view value);

class Registry {
 public:
  Registry();
  ~Registry();
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;

  using Labels = std::vector<std::string>;  // values, in the family's label-name order

  Counter& counter(const std::string& name, const std::string& help,
                   const std::vector<std::string>& label_names = {}, const Labels& values = {});
  Gauge& gauge(const std::string& name, const std::string& help,
               const std::vector<std::string>& label_names = {}, const Labels& values = {});
  Histogram& histogram(const std::string& name, const std::string& help, std::vector<double> bounds,
                       const std::vector<std::string>& label_names = {}, const Labels& values = {});
  // A gauge whose value is read at render time.
  void gauge_function(const std::string& name, const std::string& help,
                      std::function<double()> read);
  // A labelled family whose series are read at render time, for state that is already counted or
  // kept elsewhere (open incidents by severity, an intake's own counters): `read` answers every
  // series now, each with its label values in `label_names` order. Registering the same name
  // again replaces `read`.
  enum class Kind { counter, gauge };
  using Sample = std::pair<Labels, double>;
  void function_family(const std::string& name, const std::string& help, Kind kind,
                       const std::vector<std::string>& label_names,
                       std::function<std::vector<Sample>()> read);

  std::string render() const;

  struct Family;

 private:
  Family& family(const std::string& name, const std::string& help, int type,
                 const std::vector<std::string>& label_names);
  mutable std::mutex mutex_;
  mutable std::size_t last_render_size_ = 0;  // under mutex_: the next render reserves as much
  std::deque<std::unique_ptr<Family>> families_;
};

}  // namespace shipmate::metrics
