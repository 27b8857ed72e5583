// The `incidents:` section of the configuration (issue 14):
//
//   incidents:
//     roles: [commander, comms, scribe, liaison]   # the first receives status reminders
//     manage: [sre, developer]                     # incident.manage; default every configured user
//     cadence: {sev1: 30m, sev2: 1h, sev3: off, sev4: off}
//     suspect_window: 4h            # deploys this long before detection are suspects
//     timeline: affected            # or all: engine events of every service
//     rooms: true                   # a room per incident where the platform can (Slack)
//     room_prefix: inc              # rooms are named <prefix>-<UTC date>-<title words>
//     invite: [oncall]              # users with these roles are invited into every new room
//     pin_emoji: pushpin            # this reaction on a message in a room puts it on the timeline
//     postmortem_dir: .shipmate/postmortems        # default <state_dir>/incidents (set by the App)
//
// Contract: private to bot/ (the configuration parser calls it); nothing throws, every problem
// is a diagnostic on `check`; the result goes into `config.incidents`.
#pragma once

#include "bot/config.h"

namespace YAML {
class Node;
}

namespace shipmate::bot {

class Checker;

void parse_incidents(Checker& check, const YAML::Node& node, Config& config);

// The `alerts:` section: where alert webhooks are received and what they do.
//
//   alerts:
//     listen: {bind: 127.0.0.1, port: 9095}
//     channel: terminal                        # a conversation address: where alerts post
//     alertmanager: {token: {secret: am_token}}   # or basic: {user: am, password: {secret: ..}}
//     pagerduty: {secrets: [{secret: pd_new}, {secret: pd_old}]}
//     generic: {backups: {secrets: [{secret: backup_hmac}]}}
//     routes:
//       - {match: {severity: critical}, service: hello, severity: sev1, action: open incident}
//       - {match: {team: infra}, channel: "slack:C0INFRA", action: post}
void parse_alerts(Checker& check, const YAML::Node& node, Config& config);

}  // namespace shipmate::bot
