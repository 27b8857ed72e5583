// Alert notifications as the monitoring systems send them, decoded, and their signatures checked.
//
// - Alertmanager webhooks (`version: "4"`): each notification is a full snapshot of one alert
//   group (`groupKey`), with every alert's `status`, `labels`, `annotations`, `startsAt`,
//   `endsAt`, `generatorURL` and `fingerprint`. Unknown fields are ignored.
// - PagerDuty v3 webhooks: `{"event": {"id", "event_type", "occurred_at", "data": {...}}}`,
//   signed in `X-PagerDuty-Signature: v1=<hex>[,v1=<hex>...]` (HMAC-SHA256 of the raw body, one
//   value per secret in rotation).
// - A generic JSON form for anything else: `{"id", "status": "firing"|"resolved", "title",
//   "labels": {...}, "annotations": {...}, "starts_at", "url"}`, signed in
//   `X-Shipmate-Signature: sha256=<hex>`.
//
// Contract: pure and thread-safe; no I/O. Every parse error is one line naming what is wrong
// (ErrorKind::invalid), for a 400 answer. Signature checks compare in constant time and answer
// ErrorKind::auth.
#pragma once

#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/result.h"

namespace shipmate::integrations::alerts {

// A label (or annotation) set: name -> value, iterated in name order, names unique, as a map
// would hold it, but in one sorted vector: the sets are small (a handful of entries), built once
// per alert and then only looked up, and a map's node per entry was a third of parsing a
// notification (bench/README.md).
class Labels {
 public:
  using value_type = std::pair<std::string, std::string>;
  using const_iterator = std::vector<value_type>::const_iterator;

  Labels() = default;
  Labels(std::initializer_list<value_type> entries);  // a repeated name: the first one counts
  // Entries in any order; a repeated name: the first one counts (as std::map::emplace would).
  static Labels from_unsorted(std::vector<value_type> entries);

  const_iterator begin() const { return entries_.begin(); }
  const_iterator end() const { return entries_.end(); }
  std::size_t size() const { return entries_.size(); }
  bool empty() const { return entries_.empty(); }
  const_iterator find(std::string_view name) const;
  const std::string& at(std::string_view name) const;  // std::out_of_range when absent
  std::string& operator[](std::string_view name);      // added, empty, when absent
  // Adds name -> value unless the name is there; whether it was added.
  bool emplace(std::string name, std::string value);
  friend bool operator==(const Labels&, const Labels&) = default;

 private:
  std::vector<value_type>::iterator lower_bound(std::string_view name);
  std::vector<value_type> entries_;
};

struct Alert {
  std::string status;  // "firing" or "resolved"
  Labels labels;
  Labels annotations;
  std::string starts_at;  // RFC 3339, as sent
  std::string ends_at;
  std::string generator_url;
  std::string fingerprint;  // identifies the alert within its source
};

struct AlertNotification {
  std::string source;     // "alertmanager", "pagerduty", "generic:<name>"
  std::string group_key;  // Alertmanager's groupKey; PagerDuty's incident id; generic: its id
  std::string status;     // the group's: "firing" or "resolved"
  std::string receiver;
  Labels group_labels;
  Labels common_labels;
  Labels common_annotations;
  std::string external_url;
  std::string delivery_id;  // PagerDuty's webhook event id (deduplicated); "" otherwise
  std::vector<Alert> alerts;
};

Result<AlertNotification> parse_alertmanager(std::string_view body);
Result<AlertNotification> parse_pagerduty(std::string_view body);
Result<AlertNotification> parse_generic(std::string_view body, std::string_view source_name);

// HMAC-SHA256 of `body` under `key`, lowercase hex.
std::string hmac_sha256_hex(std::string_view key, std::string_view body);
// Ok when one of the header's `v1=` values is the HMAC of the body under one of `secrets`.
Status verify_pagerduty_signature(std::string_view header, std::string_view body,
                                  const std::vector<std::string>& secrets);
// Ok when the header is `sha256=<hex>` of the body under one of `secrets`.
Status verify_generic_signature(std::string_view header, std::string_view body,
                                const std::vector<std::string>& secrets);
// Ok when `authorization` is `Bearer <token>` or `Basic <base64(user:password)>` matching
// (constant time). Both empty: no authentication configured, refused.
Status verify_alertmanager_auth(std::string_view authorization, std::string_view bearer_token,
                                std::string_view basic_user, std::string_view basic_password);

}  // namespace shipmate::integrations::alerts
