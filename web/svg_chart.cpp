#include "web/svg_chart.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "web/html.h"

namespace shipmate::web {
namespace {

// The smallest 1, 2 or 5 times a power of ten at or above `value`.
double round_up(double value) {
  if (!(value > 0))
    return 1;
  const double power = std::pow(10.0, std::floor(std::log10(value)));
  for (const double step : {1.0, 2.0, 5.0, 10.0}) {
    if (step * power >= value - 1e-9)
      return step * power;
  }
  return 10 * power;
}

std::string px(double value) {
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%.1f", value);
  return buffer;
}

// A grid value with three significant digits: "0.005", "2.5", "250".
std::string tick(double value) {
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%.3g", value);
  return buffer;
}

}  // namespace

std::string format_number(double value) {
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%.2f", value);
  std::string text = buffer;
  while (!text.empty() && text.back() == '0')
    text.pop_back();
  if (!text.empty() && text.back() == '.')
    text.pop_back();
  return text == "-0" ? "0" : text;
}

std::string render_bar_chart(const ChartSpec& spec) {
  const double left = 48, right = 12, top = 30, bottom = 34;
  const double plot_w = std::max(10.0, spec.width - left - right);
  const double plot_h = std::max(10.0, spec.height - top - bottom);
  double largest = 0;
  for (const auto& point : spec.points) {
    if (point.value)
      largest = std::max(largest, *point.value);
  }
  const double max = spec.max ? *spec.max : round_up(largest);
  std::string out;
  out.reserve(2048 + spec.points.size() * 256);
  out += "<svg class=\"chart\" xmlns=\"http://www.w3.org/2000/svg\" id=\"";
  append_text(out, spec.id);
  out += "\" viewBox=\"0 0 " + std::to_string(spec.width) + " " + std::to_string(spec.height) +
         "\" width=\"" + std::to_string(spec.width) + "\" height=\"" + std::to_string(spec.height) +
         "\" role=\"img\" aria-labelledby=\"";
  append_text(out, spec.id);
  out += "-title\"><title id=\"";
  append_text(out, spec.id);
  out += "-title\">";
  append_text(out, spec.title);
  out += "</title>";
  out += "<text x=\"" + px(left) + "\" y=\"18\" class=\"chart-title\">";
  append_text(out, spec.title);
  out += "</text>";
  // Grid lines and their values: 0, 1/4, 1/2, 3/4 and the top.
  for (int i = 0; i <= 4; ++i) {
    const double y = top + plot_h - plot_h * i / 4.0;
    out += "<line class=\"grid\" x1=\"" + px(left) + "\" x2=\"" + px(left + plot_w) + "\" y1=\"" +
           px(y) + "\" y2=\"" + px(y) + "\"/>";
    out += "<text class=\"tick\" x=\"" + px(left - 6) + "\" y=\"" + px(y + 4) +
           "\" text-anchor=\"end\">" + tick(max * i / 4.0) + "</text>";
  }
  const std::size_t n = spec.points.size();
  const double slot = n > 0 ? plot_w / static_cast<double>(n) : plot_w;
  const double bar_w = std::max(1.0, slot * 0.7);
  // At most about 13 labels under the axis.
  const std::size_t every = n > 13 ? (n + 12) / 13 : 1;
  for (std::size_t i = 0; i < n; ++i) {
    const auto& point = spec.points[i];
    const double x = left + slot * static_cast<double>(i) + (slot - bar_w) / 2;
    if (point.value) {
      const double clamped = std::clamp(*point.value, 0.0, max);
      const double h = max > 0 ? plot_h * clamped / max : 0;
      out += "<rect class=\"bar\" x=\"" + px(x) + "\" y=\"" + px(top + plot_h - h) + "\" width=\"" +
             px(bar_w) + "\" height=\"" + px(std::max(h, 0.0)) + "\"><title>";
      append_text(out, point.label);
      out += ": " + format_number(*point.value) + " ";
      append_text(out, spec.unit);
      if (!point.note.empty()) {
        out += " (";
        append_text(out, point.note);
        out += ")";
      }
      out += "</title></rect>";
    } else {
      out += "<text class=\"nodata\" x=\"" + px(x + bar_w / 2) + "\" y=\"" + px(top + plot_h - 4) +
             "\" text-anchor=\"middle\">&#8211;<title>";
      append_text(out, point.label);
      out += ": no data</title></text>";
    }
    if (i % every == 0) {
      out += "<text class=\"label\" x=\"" + px(x + bar_w / 2) + "\" y=\"" + px(top + plot_h + 16) +
             "\" text-anchor=\"middle\">";
      append_text(out, point.label);
      out += "</text>";
    }
  }
  out += "<line class=\"axis\" x1=\"" + px(left) + "\" x2=\"" + px(left + plot_w) + "\" y1=\"" +
         px(top + plot_h) + "\" y2=\"" + px(top + plot_h) + "\"/>";
  out += "</svg>";
  return out;
}

}  // namespace shipmate::web
