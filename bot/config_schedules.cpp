#include "bot/config_schedules.h"

#include <yaml-cpp/yaml.h>

#include <set>

#include "bot/config.h"
#include "bot/config_checker.h"
#include "commands/schedules.h"

namespace shipmate::bot {

void parse_schedules(Checker& check, const YAML::Node& node, Config& config) {
  if (!check.expect_sequence(node, "schedules"))
    return;
  std::set<std::string> names;
  for (const auto& item : node) {
    if (!check.expect_map(item, "a schedule"))
      continue;
    check.check_keys(item,
                     {"name", "cron", "timezone", "announce", "release_digest", "dora_digest",
                      "channel", "misfire", "lateness"},
                     "a schedule");
    storage::ScheduleRecord record;
    record.origin = "config";
    record.name = item["name"] ? check.scalar(item["name"], "name").value_or("") : "";
    record.cron = item["cron"] ? check.scalar(item["cron"], "cron").value_or("") : "";
    if (record.cron.empty()) {
      check.error(item, "schedule '" + record.name + "' needs cron: (5 fields, in quotes)");
      continue;
    }
    record.timezone = config.catalog.time_zone;  // timezone: at the top, else UTC
    if (item["timezone"])
      record.timezone = check.scalar(item["timezone"], "timezone").value_or("UTC");
    int kinds = 0;
    if (item["announce"]) {
      record.action = std::string(commands::kAnnounce);
      record.payload = check.scalar(item["announce"], "announce").value_or("");
      ++kinds;
    }
    if (item["release_digest"]) {
      record.action = std::string(commands::kReleaseDigest);
      record.payload = check.scalar(item["release_digest"], "release_digest").value_or("");
      ++kinds;
    }
    if (item["dora_digest"]) {
      record.action = std::string(commands::kDoraDigest);
      ++kinds;
    }
    if (kinds != 1) {
      check.error(item, "schedule '" + record.name +
                            "' does exactly one of announce: \"text\", release_digest: <env>, "
                            "dora_digest: true");
      continue;
    }
    record.channel = item["channel"] ? check.scalar(item["channel"], "channel").value_or("") : "";
    if (record.channel != "terminal" && record.channel.find(':') == std::string::npos) {
      check.error(item["channel"] ? item["channel"] : item,
                  "schedule '" + record.name +
                      "' needs channel: an address such as \"slack:#releases\", "
                      "\"slack:C0123ABCD\" or terminal");
      continue;
    }
    if (item["misfire"])
      record.misfire = check.scalar(item["misfire"], "misfire").value_or("");
    if (item["lateness"]) {
      const auto text = check.scalar(item["lateness"], "lateness").value_or("");
      record.lateness_ms = parse_duration_ms(text).value_or(0);
    }
    if (auto valid = commands::validate_schedule(config.catalog, record); !valid) {
      check.error(item, "schedule '" + record.name + "': " + valid.error().message);
      continue;
    }
    if (!names.insert(record.name).second) {
      check.error(item["name"], "two schedules are named '" + record.name + "'");
      continue;
    }
    config.schedules.push_back(std::move(record));
  }
}

}  // namespace shipmate::bot
