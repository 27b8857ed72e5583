// The configuration's `schedules:` block: recurring announcements and digests declared in the
// file rather than from chat. Private to bot/ (the configuration parser's sources).
//
//   schedules:
//     - {name: weekly-prod, cron: "0 9 * * mon", timezone: Europe/Paris,
//        release_digest: production, channel: "slack:#releases"}
//     - {name: standup, cron: "30 9 * * mon-fri", announce: "Standup in 5", channel: terminal,
//        misfire: skip, lateness: 10m}
//
// Contract: as for load_config(): nothing throws; every problem is a diagnostic on `check`.
// Each entry is checked like a schedule added from chat (commands::validate_schedule); a channel
// is an address: "terminal" or "<platform>:<channel>".
#pragma once

namespace YAML {
class Node;
}

namespace shipmate::bot {

class Checker;
struct Config;

void parse_schedules(Checker& check, const YAML::Node& node, Config& config);

}  // namespace shipmate::bot
