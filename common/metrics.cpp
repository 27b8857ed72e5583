#include "common/metrics.h"

#include <charconv>
#include <cmath>
#include <stdexcept>

namespace shipmate::metrics {

namespace {

enum Type { kCounter, kGauge, kHistogram, kGaugeFunction, kCounterFamily, kGaugeFamily };

const char* type_name(int type) {
  switch (type) {
    case kCounter:
    case kCounterFamily:
      return "counter";
    case kHistogram:
      return "histogram";
    default:
      return "gauge";
  }
}

bool valid_name(std::string_view name, bool colon_allowed) {
  if (name.empty())
    return false;
  for (std::size_t i = 0; i < name.size(); ++i) {
    const char c = name[i];
    const bool alpha =
        (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (colon_allowed && c == ':');
    if (!(alpha || (i > 0 && c >= '0' && c <= '9')))
      return false;
  }
  return true;
}

void append_number(std::string& out, double value) {
  if (std::isnan(value)) {
    out += "NaN";
    return;
  }
  if (std::isinf(value)) {
    out += value > 0 ? "+Inf" : "-Inf";
    return;
  }
  char buffer[64];
  const auto end = std::to_chars(buffer, buffer + sizeof buffer, value).ptr;
  out.append(buffer, end);
}

std::string escape_help(std::string_view help) {
  std::string out;
  for (const char c : help) {
    if (c == '\\')
      out += "\\\\";
    else if (c == '\n')
      out += "\\n";
    else
      out += c;
  }
  return out;
}

}  // namespace

Histogram::Histogram(std::vector<double> bounds)
    : bounds_(std::move(bounds)),
      counts_(std::make_unique<std::atomic<std::uint64_t>[]>(bounds_.size() + 1)) {
  for (std::size_t i = 0; i < bounds_.size(); ++i) {
    if (i > 0 && !(bounds_[i] > bounds_[i - 1]))
      throw std::invalid_argument("histogram bounds must ascend");
    bounds_ns_.push_back(static_cast<std::int64_t>(std::llround(bounds_[i] * 1e9)));
  }
}

void Histogram::observe_nanoseconds(std::int64_t nanoseconds) {
  std::size_t i = 0;
  while (i < bounds_ns_.size() && nanoseconds > bounds_ns_[i])
    ++i;
  counts_[i].fetch_add(1, std::memory_order_relaxed);
  sum_ns_.fetch_add(nanoseconds, std::memory_order_relaxed);
  count_.fetch_add(1, std::memory_order_relaxed);
}

void Histogram::observe_seconds(double seconds) {
  observe_nanoseconds(static_cast<std::int64_t>(std::llround(seconds * 1e9)));
}

double Histogram::sum_seconds() const {
  return static_cast<double>(sum_ns_.load(std::memory_order_relaxed)) / 1e9;
}

std::vector<double> latency_buckets() {
  return {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60};
}

std::vector<double> short_latency_buckets() {
  return {0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1};
}

namespace {

void append_escaped_label_value(std::string& out, std::string_view value) {
  for (const char c : value) {
    if (c == '\\')
      out += "\\\\";
    else if (c == '"')
      out += "\\\"";
    else if (c == '\n')
      out += "\\n";
    else
      out += c;
  }
}

template <typename Integer>
void append_integer(std::string& out, Integer value) {
  char buffer[24];
  const auto end = std::to_chars(buffer, buffer + sizeof buffer, value).ptr;
  out.append(buffer, end);
}

}  // namespace

std::string escape_label_value(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  append_escaped_label_value(out, value);
  return out;
}

struct Registry::Family {
  std::string name;
  std::string help;
  int type = kCounter;
  std::vector<std::string> label_names;
  struct Series {
    Labels values;
    std::unique_ptr<Counter> counter;
    std::unique_ptr<Gauge> gauge;
    std::unique_ptr<Histogram> histogram;
  };
  std::deque<Series> series;
  std::function<double()> read;
  std::function<std::vector<Sample>()> read_all;

  Series& find(const Labels& values) {
    if (values.size() != label_names.size()) {
      throw std::logic_error("metric " + name + " has " + std::to_string(label_names.size()) +
                             " labels, not " + std::to_string(values.size()));
    }
    for (auto& one : series) {
      if (one.values == values)
        return one;
    }
    series.push_back(Series{values, nullptr, nullptr, nullptr});
    return series.back();
  }

  // Appends `{a="x",b="y"` (no closing brace; nothing at all without labels) to out: the
  // caller closes it, after adding a histogram's `le` where there is one. Written straight into
  // the exposition, so a scrape makes no string per sample.
  void append_labels(std::string& out, const Labels& values) const {
    for (std::size_t i = 0; i < values.size(); ++i) {
      out += i == 0 ? '{' : ',';
      out += label_names[i];
      out += "=\"";
      append_escaped_label_value(out, values[i]);
      out += '"';
    }
  }

  // name + labels + ' ', the start of one sample line.
  void append_series(std::string& out, std::string_view suffix, const Labels& values) const {
    out += name;
    out += suffix;
    append_labels(out, values);
    if (!values.empty())
      out += '}';
    out += ' ';
  }
};

Registry::Registry() = default;
Registry::~Registry() = default;

Registry::Family& Registry::family(const std::string& name, const std::string& help, int type,
                                   const std::vector<std::string>& label_names) {
  for (auto& family : families_) {
    if (family->name == name) {
      if (family->type != type || family->label_names != label_names)
        throw std::logic_error("metric " + name + " registered twice with different shapes");
      return *family;
    }
  }
  if (!valid_name(name, true))
    throw std::invalid_argument("not a metric name: " + name);
  for (const auto& label : label_names) {
    if (!valid_name(label, false) || label.rfind("__", 0) == 0 || label == "le")
      throw std::invalid_argument("not a label name for " + name + ": " + label);
  }
  auto made = std::make_unique<Family>();
  made->name = name;
  made->help = help;
  made->type = type;
  made->label_names = label_names;
  families_.push_back(std::move(made));
  return *families_.back();
}

Counter& Registry::counter(const std::string& name, const std::string& help,
                           const std::vector<std::string>& label_names, const Labels& values) {
  std::lock_guard lock(mutex_);
  auto& series = family(name, help, kCounter, label_names).find(values);
  if (!series.counter)
    series.counter = std::make_unique<Counter>();
  return *series.counter;
}

Gauge& Registry::gauge(const std::string& name, const std::string& help,
                       const std::vector<std::string>& label_names, const Labels& values) {
  std::lock_guard lock(mutex_);
  auto& series = family(name, help, kGauge, label_names).find(values);
  if (!series.gauge)
    series.gauge = std::make_unique<Gauge>();
  return *series.gauge;
}

Histogram& Registry::histogram(const std::string& name, const std::string& help,
                               std::vector<double> bounds,
                               const std::vector<std::string>& label_names, const Labels& values) {
  std::lock_guard lock(mutex_);
  auto& series = family(name, help, kHistogram, label_names).find(values);
  if (!series.histogram)
    series.histogram = std::make_unique<Histogram>(std::move(bounds));
  return *series.histogram;
}

void Registry::gauge_function(const std::string& name, const std::string& help,
                              std::function<double()> read) {
  std::lock_guard lock(mutex_);
  family(name, help, kGaugeFunction, {}).read = std::move(read);
}

void Registry::function_family(const std::string& name, const std::string& help, Kind kind,
                               const std::vector<std::string>& label_names,
                               std::function<std::vector<Sample>()> read) {
  std::lock_guard lock(mutex_);
  family(name, help, kind == Kind::counter ? kCounterFamily : kGaugeFamily, label_names).read_all =
      std::move(read);
}

std::string Registry::render() const {
  std::lock_guard lock(mutex_);
  std::string out;
  out.reserve(last_render_size_ + last_render_size_ / 8 + 4096);
  for (const auto& family : families_) {
    std::vector<Sample> samples;
    if (family->type == kCounterFamily || family->type == kGaugeFamily) {
      if (family->read_all)
        samples = family->read_all();
      if (samples.empty())
        continue;
    } else if (family->type != kGaugeFunction && family->series.empty()) {
      continue;
    }
    out += "# HELP ";
    out += family->name;
    out += ' ';
    out += escape_help(family->help);
    out += "\n# TYPE ";
    out += family->name;
    out += ' ';
    out += type_name(family->type);
    out += '\n';
    if (family->type == kGaugeFunction) {
      out += family->name;
      out += ' ';
      append_number(out, family->read ? family->read() : 0.0);
      out += '\n';
      continue;
    }
    if (family->type == kCounterFamily || family->type == kGaugeFamily) {
      for (const auto& [values, value] : samples) {
        if (values.size() != family->label_names.size())
          throw std::logic_error("metric " + family->name + " read the wrong number of labels");
        family->append_series(out, {}, values);
        append_number(out, value);
        out += '\n';
      }
      continue;
    }
    for (const auto& series : family->series) {
      if (family->type == kCounter) {
        family->append_series(out, {}, series.values);
        append_integer(out, series.counter->value());
        out += '\n';
      } else if (family->type == kGauge) {
        family->append_series(out, {}, series.values);
        append_integer(out, series.gauge->value());
        out += '\n';
      } else {
        const Histogram& h = *series.histogram;
        std::uint64_t cumulative = 0;
        for (std::size_t i = 0; i <= h.bounds().size(); ++i) {
          cumulative += h.bucket(i);
          out += family->name;
          out += "_bucket";
          family->append_labels(out, series.values);
          out += series.values.empty() ? "{le=\"" : ",le=\"";
          if (i < h.bounds().size())
            append_number(out, h.bounds()[i]);
          else
            out += "+Inf";
          out += "\"} ";
          append_integer(out, cumulative);
          out += '\n';
        }
        family->append_series(out, "_sum", series.values);
        append_number(out, h.sum_seconds());
        out += '\n';
        family->append_series(out, "_count", series.values);
        append_integer(out, h.count());
        out += '\n';
      }
    }
  }
  last_render_size_ = out.size();
  return out;
}

}  // namespace shipmate::metrics
