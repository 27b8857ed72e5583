#include "integrations/alerts/alert_payloads.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <simdjson.h>

#include <algorithm>
#include <array>
#include <memory>
#include <stdexcept>

#include "common/strings.h"

namespace shipmate::integrations::alerts {

namespace {
bool name_less(const Labels::value_type& entry, std::string_view name) {
  return std::string_view(entry.first) < name;
}
}  // namespace

Labels::Labels(std::initializer_list<value_type> entries)
    : Labels(from_unsorted(std::vector<value_type>(entries))) {}

constexpr std::size_t kInsertionSortUpTo = 64;

Labels Labels::from_unsorted(std::vector<value_type> entries) {
  Labels out;
  out.entries_ = std::move(entries);
  auto& list = out.entries_;
  // An insertion sort: a label set is a handful of entries, often already in order, and
  // std::stable_sort allocated a buffer per set (12 k instructions of a 96 k parse). Stable: an
  // entry moves only past strictly greater names, so the first of a repeated name stays first.
  // Past kInsertionSortUpTo entries (quadratic) it is std::stable_sort after all.
  const auto by_name = [](const value_type& a, const value_type& b) { return a.first < b.first; };
  if (list.size() > kInsertionSortUpTo && !std::is_sorted(list.begin(), list.end(), by_name))
    std::stable_sort(list.begin(), list.end(), by_name);
  for (std::size_t i = 1; i < list.size() && list.size() <= kInsertionSortUpTo; ++i) {
    if (!(list[i].first < list[i - 1].first))
      continue;
    value_type moving = std::move(list[i]);
    std::size_t j = i;
    for (; j > 0 && moving.first < list[j - 1].first; --j)
      list[j] = std::move(list[j - 1]);
    list[j] = std::move(moving);
  }
  list.erase(
      std::unique(list.begin(), list.end(),
                  [](const value_type& a, const value_type& b) { return a.first == b.first; }),
      list.end());
  return out;
}

std::vector<Labels::value_type>::iterator Labels::lower_bound(std::string_view name) {
  return std::lower_bound(entries_.begin(), entries_.end(), name, name_less);
}

Labels::const_iterator Labels::find(std::string_view name) const {
  auto it = std::lower_bound(entries_.begin(), entries_.end(), name, name_less);
  return it != entries_.end() && it->first == name ? it : entries_.end();
}

const std::string& Labels::at(std::string_view name) const {
  auto it = find(name);
  if (it == end())
    throw std::out_of_range("no label " + std::string(name));
  return it->second;
}

std::string& Labels::operator[](std::string_view name) {
  auto it = lower_bound(name);
  if (it == entries_.end() || it->first != name)
    it = entries_.insert(it, value_type(std::string(name), std::string()));
  return it->second;
}

bool Labels::emplace(std::string name, std::string value) {
  auto it = lower_bound(name);
  if (it != entries_.end() && it->first == name)
    return false;
  entries_.insert(it, value_type(std::move(name), std::move(value)));
  return true;
}

namespace {

using simdjson::dom::element;
using simdjson::dom::object;

Error invalid(std::string message) {
  return Error{std::move(message), ErrorKind::invalid};
}

std::string string_field(const object& obj, std::string_view key) {
  std::string_view value;
  if (obj.at_key(key).get_string().get(value) != simdjson::SUCCESS)
    return "";
  return std::string(value);
}

bool has_string(const object& obj, std::string_view key) {
  std::string_view value;
  return obj.at_key(key).get_string().get(value) == simdjson::SUCCESS;
}

// A map of strings; a missing key is an empty map, anything else that is not an object of
// strings is an error.
Result<Labels> labels_field(const object& obj, std::string_view key, std::string_view where) {
  element value;
  if (obj.at_key(key).get(value) != simdjson::SUCCESS || value.is_null())
    return Labels();
  object map;
  if (value.get_object().get(map) != simdjson::SUCCESS)
    return invalid(std::string(where) + "." + std::string(key) + " must be an object of strings");
  std::vector<Labels::value_type> out;
  out.reserve(map.size());
  for (auto field : map) {
    std::string_view text;
    if (field.value.get_string().get(text) != simdjson::SUCCESS) {
      return invalid(std::string(where) + "." + std::string(key) + "." + std::string(field.key) +
                     " must be a string");
    }
    out.emplace_back(std::string(field.key), std::string(text));
  }
  return Labels::from_unsorted(std::move(out));
}

// A parser and a padded copy of the body. simdjson allocates its buffers for each new parser and
// a padded copy of an unpadded body for each parse: a fifth of a notification's parse in
// allocations. One scratch is kept per thread and reused for bodies up to kReusedUpTo (an
// Alertmanager notification is a few KiB), so at most about that much stays allocated; a larger
// body gets a scratch of its own, freed with `own`.
struct ParseScratch {
  simdjson::dom::parser parser;
  std::string padded;
};
constexpr std::size_t kReusedUpTo = 64 * 1024;

simdjson::error_code parse_json(std::string_view body, std::unique_ptr<ParseScratch>& own,
                                element& doc) {
  thread_local ParseScratch reused;
  ParseScratch* scratch = &reused;
  if (body.size() > kReusedUpTo) {
    own = std::make_unique<ParseScratch>();
    scratch = own.get();
  }
  scratch->padded.assign(body);
  scratch->padded.append(simdjson::SIMDJSON_PADDING, '\0');
  return scratch->parser.parse(scratch->padded.data(), body.size(), false).get(doc);
}

bool valid_status(std::string_view status) {
  return status == "firing" || status == "resolved";
}

bool constant_time_equal(std::string_view a, std::string_view b) {
  if (a.size() != b.size())
    return false;
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace

Result<AlertNotification> parse_alertmanager(std::string_view body) {
  std::unique_ptr<ParseScratch> own;
  element doc;
  if (parse_json(body, own, doc) != simdjson::SUCCESS)
    return invalid("the body is not JSON");
  object root;
  if (doc.get_object().get(root) != simdjson::SUCCESS)
    return invalid("the body must be a JSON object (an Alertmanager webhook)");
  const std::string version = string_field(root, "version");
  if (version != "4") {
    return invalid(version.empty()
                       ? "missing \"version\": Alertmanager webhooks send \"4\""
                       : "unsupported webhook version \"" + version + "\" (want \"4\")");
  }
  AlertNotification out;
  out.source = "alertmanager";
  out.group_key = string_field(root, "groupKey");
  if (out.group_key.empty())
    return invalid("missing \"groupKey\"");
  out.status = string_field(root, "status");
  if (!valid_status(out.status))
    return invalid("\"status\" must be \"firing\" or \"resolved\"");
  out.receiver = string_field(root, "receiver");
  out.external_url = string_field(root, "externalURL");
  auto group = labels_field(root, "groupLabels", "body");
  if (!group)
    return group.error();
  out.group_labels = std::move(*group);
  auto common = labels_field(root, "commonLabels", "body");
  if (!common)
    return common.error();
  out.common_labels = std::move(*common);
  auto annotations = labels_field(root, "commonAnnotations", "body");
  if (!annotations)
    return annotations.error();
  out.common_annotations = std::move(*annotations);
  simdjson::dom::array alerts;
  if (root.at_key("alerts").get_array().get(alerts) != simdjson::SUCCESS)
    return invalid("missing \"alerts\" (a list)");
  std::size_t index = 0;
  for (element item : alerts) {
    const std::string where = "alerts[" + std::to_string(index++) + "]";
    object alert_obj;
    if (item.get_object().get(alert_obj) != simdjson::SUCCESS)
      return invalid(where + " must be an object");
    Alert alert;
    alert.status = string_field(alert_obj, "status");
    if (!valid_status(alert.status))
      return invalid(where + ".status must be \"firing\" or \"resolved\"");
    auto labels = labels_field(alert_obj, "labels", where);
    if (!labels)
      return labels.error();
    alert.labels = std::move(*labels);
    auto notes = labels_field(alert_obj, "annotations", where);
    if (!notes)
      return notes.error();
    alert.annotations = std::move(*notes);
    alert.starts_at = string_field(alert_obj, "startsAt");
    if (alert.starts_at.empty())
      return invalid(where + " has no startsAt");
    alert.ends_at = string_field(alert_obj, "endsAt");
    alert.generator_url = string_field(alert_obj, "generatorURL");
    alert.fingerprint = string_field(alert_obj, "fingerprint");
    if (alert.fingerprint.empty()) {
      // Older senders: the sorted label set identifies the alert.
      for (const auto& [name, value] : alert.labels)
        alert.fingerprint += name + "=" + value + ",";
    }
    out.alerts.push_back(std::move(alert));
  }
  return out;
}

Result<AlertNotification> parse_pagerduty(std::string_view body) {
  std::unique_ptr<ParseScratch> own;
  element doc;
  if (parse_json(body, own, doc) != simdjson::SUCCESS)
    return invalid("the body is not JSON");
  object event;
  if (doc.at_key("event").get_object().get(event) != simdjson::SUCCESS)
    return invalid("missing \"event\" (a PagerDuty v3 webhook)");
  AlertNotification out;
  out.source = "pagerduty";
  out.delivery_id = string_field(event, "id");
  if (out.delivery_id.empty())
    return invalid("missing event.id");
  const std::string type = string_field(event, "event_type");
  if (type.empty())
    return invalid("missing event.event_type");
  object data;
  if (event.at_key("data").get_object().get(data) != simdjson::SUCCESS)
    return invalid("missing event.data");
  Alert alert;
  alert.fingerprint = string_field(data, "id");
  out.group_key = alert.fingerprint;
  alert.status = type == "incident.resolved" ? "resolved" : "firing";
  out.status = alert.status;
  alert.starts_at = string_field(data, "created_at");
  if (alert.starts_at.empty())
    alert.starts_at = string_field(event, "occurred_at");
  alert.generator_url = string_field(data, "html_url");
  alert.labels["alertname"] = string_field(data, "title");
  alert.labels["event_type"] = type;
  alert.labels["urgency"] = string_field(data, "urgency");
  object service;
  if (data.at_key("service").get_object().get(service) == simdjson::SUCCESS)
    alert.labels["service"] = string_field(service, "summary");
  object priority;
  if (data.at_key("priority").get_object().get(priority) == simdjson::SUCCESS)
    alert.labels["priority"] = string_field(priority, "summary");
  alert.annotations["summary"] = string_field(data, "title");
  // Only incident events open or resolve anything; others (annotations, acknowledgements) are
  // timeline material with the same fingerprint.
  if (!type.starts_with("incident.") || alert.fingerprint.empty())
    return invalid("event " + type + " carries no incident (event.data.id)");
  if (type != "incident.triggered" && type != "incident.resolved") {
    alert.status = "firing";
    alert.starts_at += "#" + type;
  }
  out.common_labels = alert.labels;
  out.alerts.push_back(std::move(alert));
  return out;
}

Result<AlertNotification> parse_generic(std::string_view body, std::string_view source_name) {
  std::unique_ptr<ParseScratch> own;
  element doc;
  if (parse_json(body, own, doc) != simdjson::SUCCESS)
    return invalid("the body is not JSON");
  object root;
  if (doc.get_object().get(root) != simdjson::SUCCESS)
    return invalid("the body must be a JSON object");
  for (std::string_view key : {"id", "status", "title"}) {
    if (!has_string(root, key))
      return invalid("missing \"" + std::string(key) + "\" (a string)");
  }
  AlertNotification out;
  out.source = "generic:" + std::string(source_name);
  Alert alert;
  alert.fingerprint = string_field(root, "id");
  out.group_key = alert.fingerprint;
  alert.status = string_field(root, "status");
  if (!valid_status(alert.status))
    return invalid("\"status\" must be \"firing\" or \"resolved\"");
  out.status = alert.status;
  auto labels = labels_field(root, "labels", "body");
  if (!labels)
    return labels.error();
  alert.labels = std::move(*labels);
  alert.labels["alertname"] = string_field(root, "title");
  auto notes = labels_field(root, "annotations", "body");
  if (!notes)
    return notes.error();
  alert.annotations = std::move(*notes);
  alert.starts_at = string_field(root, "starts_at");
  alert.generator_url = string_field(root, "url");
  out.common_labels = alert.labels;
  out.alerts.push_back(std::move(alert));
  return out;
}

std::string hmac_sha256_hex(std::string_view key, std::string_view body) {
  std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
  unsigned int size = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(body.data()), body.size(), digest.data(), &size);
  constexpr std::string_view kDigits = "0123456789abcdef";
  std::string out;
  for (unsigned int i = 0; i < size; ++i) {
    out.push_back(kDigits[digest[i] >> 4]);
    out.push_back(kDigits[digest[i] & 0x0f]);
  }
  return out;
}

Status verify_pagerduty_signature(std::string_view header, std::string_view body,
                                  const std::vector<std::string>& secrets) {
  if (header.empty())
    return Error{"missing X-PagerDuty-Signature", ErrorKind::auth};
  std::vector<std::string> expected;
  for (const auto& secret : secrets)
    expected.push_back("v1=" + hmac_sha256_hex(secret, body));
  bool any_v1 = false;
  bool matched = false;
  std::size_t start = 0;
  while (start <= header.size()) {
    const std::size_t comma = header.find(',', start);
    const std::string_view value =
        trim(header.substr(start, comma == std::string_view::npos ? header.npos : comma - start));
    if (value.starts_with("v1=")) {
      any_v1 = true;
      for (const auto& want : expected)
        matched = constant_time_equal(value, want) || matched;
    }
    if (comma == std::string_view::npos)
      break;
    start = comma + 1;
  }
  if (!any_v1)
    return Error{"X-PagerDuty-Signature has no v1= signature", ErrorKind::auth};
  if (!matched)
    return Error{"X-PagerDuty-Signature does not match the body under any configured secret",
                 ErrorKind::auth};
  return Ok{};
}

Status verify_generic_signature(std::string_view header, std::string_view body,
                                const std::vector<std::string>& secrets) {
  if (header.empty())
    return Error{"missing X-Shipmate-Signature", ErrorKind::auth};
  if (!header.starts_with("sha256="))
    return Error{"X-Shipmate-Signature must be sha256=<hex>", ErrorKind::auth};
  bool matched = false;
  for (const auto& secret : secrets)
    matched = constant_time_equal(header, "sha256=" + hmac_sha256_hex(secret, body)) || matched;
  if (!matched)
    return Error{"X-Shipmate-Signature does not match the body", ErrorKind::auth};
  return Ok{};
}

Status verify_alertmanager_auth(std::string_view authorization, std::string_view bearer_token,
                                std::string_view basic_user, std::string_view basic_password) {
  if (bearer_token.empty() && basic_user.empty())
    return Error{"no credentials are configured for this endpoint", ErrorKind::auth};
  if (authorization.empty())
    return Error{"missing Authorization", ErrorKind::auth};
  bool ok = false;
  if (!bearer_token.empty() && starts_with_ci(authorization, "bearer "))
    ok = constant_time_equal(trim(authorization.substr(7)), bearer_token);
  if (!basic_user.empty() && starts_with_ci(authorization, "basic ")) {
    const std::string want =
        base64_encode(std::string(basic_user) + ":" + std::string(basic_password));
    ok = constant_time_equal(trim(authorization.substr(6)), want);
  }
  if (!ok)
    return Error{"the credentials do not match", ErrorKind::auth};
  return Ok{};
}

}  // namespace shipmate::integrations::alerts
