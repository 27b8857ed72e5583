#include "bot/config_incidents.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
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
                   {"roles", "manage", "cadence", "suspect_window", "timeline", "postmortem_dir",
                    "rooms", "room_prefix", "invite", "pin_emoji", "archive_after"},
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
  if (node["rooms"]) {
    const auto rooms = check.scalar(node["rooms"], "rooms").value_or("true");
    if (rooms == "true" || rooms == "false")
      settings.create_rooms = rooms == "true";
    else
      check.error(node["rooms"], "incidents rooms must be true or false, not '" + rooms + "'");
  }
  if (node["room_prefix"]) {
    const auto prefix = check.scalar(node["room_prefix"], "room_prefix").value_or("inc");
    const bool clean = !prefix.empty() && prefix.size() <= 20 &&
                       std::all_of(prefix.begin(), prefix.end(), [](char c) {
                         return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
                       });
    if (clean)
      settings.room_prefix = prefix;
    else
      check.error(node["room_prefix"],
                  "incidents room_prefix must be 1 to 20 lowercase letters, digits or '-', not '" +
                      prefix + "'");
  }
  if (const auto archive = node["archive_after"]) {
    if (archive.IsScalar() && (archive.Scalar() == "never" || archive.Scalar() == "off")) {
      settings.archive_after_ms = 0;
    } else if (auto ms = check.duration(archive, "archive_after")) {
      if (*ms < 60 * 1000)
        check.error(archive, "incidents archive_after must be at least 1m (or never)");
      else
        settings.archive_after_ms = *ms;
    }
  }
  if (node["invite"])
    settings.invite_roles = check.string_list(node["invite"], "incidents invite");
  if (node["pin_emoji"]) {
    std::string emoji = check.scalar(node["pin_emoji"], "pin_emoji").value_or("pushpin");
    if (emoji.size() > 2 && emoji.front() == ':' && emoji.back() == ':')
      emoji = emoji.substr(1, emoji.size() - 2);
    settings.pin_emoji = emoji;
  }
  if (node["postmortem_dir"]) {
    const auto dir = check.scalar(node["postmortem_dir"], "postmortem_dir").value_or("");
    const auto base = std::filesystem::path(config.path).parent_path();
    settings.postmortem_dir = (base / dir).lexically_normal().string();
  }
}

namespace {

std::vector<std::string> secret_list(Checker& check, const YAML::Node& node, Config& config,
                                     const std::string& what) {
  std::vector<std::string> out;
  if (!check.expect_sequence(node, what))
    return out;
  for (const auto& item : node) {
    if (auto value = secret_value(check, item, config, what))
      out.push_back(*value);
  }
  return out;
}

}  // namespace

void parse_alerts(Checker& check, const YAML::Node& node, Config& config) {
  if (!node || !check.expect_map(node, "alerts"))
    return;
  auto& alerts = config.alerts;
  check.check_keys(node, {"listen", "channel", "alertmanager", "pagerduty", "generic", "routes"},
                   "alerts");
  if (const auto listen = node["listen"]; listen && check.expect_map(listen, "alerts listen")) {
    check.check_keys(listen, {"bind", "port"}, "alerts listen");
    if (listen["bind"])
      alerts.bind = check.scalar(listen["bind"], "bind").value_or("127.0.0.1");
    alerts.port = 0;
    if (listen["port"])
      alerts.port = static_cast<int>(check.integer(listen["port"], "port", 0, 65535).value_or(0));
  }
  if (node["channel"])
    alerts.channel = check.scalar(node["channel"], "channel").value_or("");
  if (const auto am = node["alertmanager"]; am && check.expect_map(am, "alerts alertmanager")) {
    check.check_keys(am, {"token", "basic"}, "alerts alertmanager");
    if (am["token"])
      alerts.bearer_token = secret_value(check, am["token"], config, "token").value_or("");
    if (const auto basic = am["basic"]; basic && check.expect_map(basic, "basic")) {
      check.check_keys(basic, {"user", "password"}, "alertmanager basic");
      alerts.basic_user = check.scalar(basic["user"], "user").value_or("");
      if (basic["password"])
        alerts.basic_password =
            secret_value(check, basic["password"], config, "password").value_or("");
    }
  }
  if (const auto pd = node["pagerduty"]; pd && check.expect_map(pd, "alerts pagerduty")) {
    check.check_keys(pd, {"secrets"}, "alerts pagerduty");
    if (pd["secrets"])
      alerts.pagerduty_secrets = secret_list(check, pd["secrets"], config, "pagerduty secrets");
    if (alerts.pagerduty_secrets.empty())
      check.error(pd, "alerts pagerduty needs secrets: [{secret: name}, ...]");
  }
  if (const auto generic = node["generic"];
      generic && check.expect_map(generic, "alerts generic")) {
    for (const auto& entry : generic) {
      const std::string name = entry.first.as<std::string>("");
      bool ok = !name.empty() && name.size() <= 40;
      for (char c : name)
        ok = ok && ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_');
      if (!ok) {
        check.error(entry.first,
                    "generic alert source names are lowercase words, not '" + name + "'");
        continue;
      }
      if (!check.expect_map(entry.second, "generic source " + name))
        continue;
      check.check_keys(entry.second, {"secrets"}, "generic source " + name);
      auto secrets = entry.second["secrets"]
                         ? secret_list(check, entry.second["secrets"], config, "secrets")
                         : std::vector<std::string>{};
      if (secrets.empty())
        check.error(entry.second, "generic source " + name + " needs secrets: [{secret: name}]");
      alerts.generic_secrets[name] = std::move(secrets);
    }
  }
  if (const auto routes = node["routes"];
      routes && check.expect_sequence(routes, "alerts routes")) {
    for (const auto& item : routes) {
      if (!check.expect_map(item, "an alert route"))
        continue;
      check.check_keys(item, {"match", "service", "severity", "channel", "action"},
                       "an alert route");
      commands::AlertRoute route;
      if (const auto match = item["match"]; match && check.expect_map(match, "match")) {
        for (const auto& label : match)
          route.match[label.first.as<std::string>("")] = label.second.as<std::string>("");
      }
      if (item["service"]) {
        route.service = check.scalar(item["service"], "service").value_or("");
        if (config.catalog.find_service(route.service) == nullptr)
          check.error(item["service"],
                      "alert route service '" + route.service + "' is not a configured service");
      }
      if (item["severity"]) {
        auto severity =
            commands::parse_severity(check.scalar(item["severity"], "severity").value_or(""));
        if (severity)
          route.severity = *severity;
        else
          check.error(item["severity"], severity.error().message);
      }
      if (item["channel"])
        route.channel = check.scalar(item["channel"], "channel").value_or("");
      if (item["action"]) {
        const auto action = check.scalar(item["action"], "action").value_or("post");
        if (action == "open incident" || action == "open_incident")
          route.open_incident = true;
        else if (action != "post")
          check.error(item["action"],
                      "alert route action must be post or open incident, not '" + action + "'");
      }
      alerts.routes.push_back(std::move(route));
    }
  }
  if (alerts.port >= 0 && alerts.bearer_token.empty() && alerts.basic_user.empty() &&
      alerts.pagerduty_secrets.empty() && alerts.generic_secrets.empty()) {
    check.error(node,
                "alerts listen needs credentials: alertmanager token or basic, pagerduty "
                "secrets, or generic sources");
  }
}

}  // namespace shipmate::bot
