// Bar charts as inline SVG, rendered on the server (the web view's DORA charts).
//
// Contract
// - Pure: a ChartSpec in, one <svg> element out; thread-safe.
// - No script, no external reference, no font file: the SVG uses the page's font stack and
//   presentation attributes only, so it renders with JavaScript off and under a CSP that allows
//   nothing external.
// - Accessible: role="img" with the title as its accessible name, and each bar has a <title>
//   (the browser's tooltip) with its label and value. A point without a value (no data that
//   week) draws no bar and says "no data" in its tooltip and under the axis as a dash.
// - Every label and note goes through web/html.h (redacted, escaped).
// - The y axis starts at 0 and ends at `max` when set (100 for a percentage), else at a round
//   number at or above the largest value (1 when every value is 0).
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace shipmate::web {

struct ChartPoint {
  std::string label;            // under the axis: "Nov 30"
  std::optional<double> value;  // none: no data
  std::string note = {};        // the tooltip's detail: "3 of 12 changes"
};

struct ChartSpec {
  std::string id;     // the element id (letters, digits, '-')
  std::string title;  // "Deployment frequency"
  std::string unit;   // after each value: "deploys", "h", "%"
  std::vector<ChartPoint> points;
  std::optional<double> max = {};
  int width = 560;
  int height = 220;
};

std::string render_bar_chart(const ChartSpec& spec);
// "12", "1.5", "0.25": at most two decimals, no trailing zeros.
std::string format_number(double value);

}  // namespace shipmate::web
