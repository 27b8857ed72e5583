#include "bot/config_incidents.h"

#include <yaml-cpp/yaml.h>

#include <filesystem>
#include <set>

#include "bot/config_checker.h"

namespace shipmate::bot {

void parse_incidents(Checker& check, const YAML::Node& node, Config& config) {
  auto& settings = config.incidents;
  if (!node)
    return;
  if (!check.expect_map(node, "incidents"))
    return;
  check.check_keys(node,
                   {"roles", "manage", "cadence", "suspect_window", "timeline", "postmortem_dir"},
                   "incidents");
  if (node["roles"]) {
    auto roles = check.string_list(node["roles"], "incidents roles");
    std::set<std::string> seen;
    for (const auto& role : roles) {
      if (role.empty() || role.find(' ') != std::string::npos || !seen.insert(role).second)
        check.error(node["roles"],
                    "incident roles must be distinct single words, not '" + role + "'");
    }
    if (roles.empty())
      check.error(node["roles"], "incidents roles needs at least one role (the commander)");
    else
      settings.roles = roles;
  }
  if (node["manage"])
    settings.manage_roles = check.string_list(node["manage"], "incidents manage");
  if (const auto cadence = node["cadence"]) {
    if (check.expect_map(cadence, "incidents cadence")) {
      check.check_keys(cadence, {"sev1", "sev2", "sev3", "sev4"}, "incidents cadence");
      for (std::size_t i = 0; i < settings.cadence_ms.size(); ++i) {
        const std::string key = "sev" + std::to_string(i + 1);
        const auto value = cadence[key];
        if (!value)
          continue;
        if (value.IsScalar() && (value.Scalar() == "off" || value.Scalar() == "none")) {
          settings.cadence_ms[i] = 0;
          continue;
        }
        if (auto ms = check.duration(value, "cadence " + key)) {
          if (*ms < 60 * 1000)
            check.error(value, "cadence " + key + " must be at least 1m (or off)");
          else
            settings.cadence_ms[i] = *ms;
        }
      }
    }
  }
  if (node["suspect_window"]) {
    if (auto ms = check.duration(node["suspect_window"], "suspect_window"))
      settings.suspect_window_ms = *ms;
  }
  if (node["timeline"]) {
    const auto scope = check.scalar(node["timeline"], "timeline").value_or("affected");
    if (scope == "all")
      settings.timeline_all_services = true;
    else if (scope != "affected")
      check.error(node["timeline"],
                  "incidents timeline must be affected or all, not '" + scope + "'");
  }
  if (node["postmortem_dir"]) {
    const auto dir = check.scalar(node["postmortem_dir"], "postmortem_dir").value_or("");
    const auto base = std::filesystem::path(config.path).parent_path();
    settings.postmortem_dir = (base / dir).lexically_normal().string();
  }
}

}  // namespace shipmate::bot
