// `ops: web:`: the read-only web view on the ops listener (web/site.h).
//
//   ops:
//     bind: 0.0.0.0
//     web:
//       token: {secret: web_token}                          # Authorization: Bearer ...
//       basic: {user: viewer, password: {secret: web_pw}}   # or Basic, or both
//       readers:                # people who sign in as themselves (Basic, their user id):
//         - {user: alice, password: {secret: web_alice}}   # private incidents they belong to
//       page_size: 50        # rows per list page (the largest ?limit= is max_page_size)
//       dora_weeks: 12
//
// `web: true` (or an empty map) turns it on with the defaults; `enabled: false` keeps the section
// but turns it off. Without credentials it answers loopback peers only, and a non-loopback
// `bind` without credentials is an error: the view would be open to the network.
#include "bot/config_web.h"
#include "web/request.h"

namespace shipmate::bot {

void parse_web_view(Checker& check, const YAML::Node& node, Config& config) {
  WebViewConfig& web = config.web;
  if (node.IsScalar()) {
    web.enabled = check.boolean(node, "ops web").value_or(false);
  } else if (node.IsNull()) {
    web.enabled = true;
  } else if (check.expect_map(node, "ops web")) {
    check.check_keys(
        node, {"enabled", "token", "basic", "readers", "page_size", "max_page_size", "dora_weeks"},
        "ops web");
    web.enabled =
        node["enabled"] ? check.boolean(node["enabled"], "enabled").value_or(false) : true;
    if (node["token"])
      web.token = secret_value(check, node["token"], config, "token").value_or("");
    if (const auto basic = node["basic"]; basic && check.expect_map(basic, "ops web basic")) {
      check.check_keys(basic, {"user", "password"}, "ops web basic");
      web.basic_user = check.scalar(basic["user"], "user").value_or("");
      if (basic["password"])
        web.basic_password =
            secret_value(check, basic["password"], config, "password").value_or("");
      if (web.basic_user.empty() || web.basic_password.empty())
        check.error(basic, "ops web basic needs both user: and password: {secret: name}");
      if (web.basic_user.find(':') != std::string::npos)
        check.error(basic["user"], "ops web basic user cannot contain ':'");
    }
    if (const auto readers = node["readers"]; readers) {
      if (!readers.IsSequence()) {
        check.error(readers,
                    "ops web readers must be a list of {user: id, password: {secret: "
                    "name}}");
      } else {
        for (const auto& reader : readers) {
          if (!check.expect_map(reader, "ops web reader"))
            continue;
          check.check_keys(reader, {"user", "password"}, "ops web reader");
          const std::string user = check.scalar(reader["user"], "user").value_or("");
          const std::string password =
              reader["password"]
                  ? secret_value(check, reader["password"], config, "password").value_or("")
                  : std::string();
          if (user.empty() || password.empty()) {
            check.error(reader,
                        "an ops web reader needs user: (a user id) and password: "
                        "{secret: name}");
            continue;
          }
          if (user.find(':') != std::string::npos)
            check.error(reader["user"], "ops web reader user cannot contain ':'");
          else if (config.catalog.find_user(user) == nullptr)
            check.error(reader["user"], "ops web reader " + user + " is not one of users:");
          for (const auto& [known, ignored] : web.readers) {
            if (known == user)
              check.error(reader["user"], "ops web reader " + user + " is listed twice");
          }
          if (user == web.basic_user)
            check.error(reader["user"],
                        "ops web reader " + user + " is also the shared basic: user");
          web.readers.emplace_back(user, password);
        }
      }
    }
    if (node["max_page_size"]) {
      web.max_page_size = static_cast<int>(
          check.integer(node["max_page_size"], "max_page_size", 1, 5000).value_or(500));
    }
    if (node["page_size"]) {
      web.page_size = static_cast<int>(
          check.integer(node["page_size"], "page_size", 1, web.max_page_size).value_or(50));
    }
    if (node["dora_weeks"]) {
      web.dora_weeks =
          static_cast<int>(check.integer(node["dora_weeks"], "dora_weeks", 1, 104).value_or(12));
    }
  }
  // Where the ops routes land (bot/listeners.h): ops' own address, else the shared http:
  // listener, else ops' default.
  const std::string& bind =
      !config.ops.listen_set && config.http.enabled ? config.http.bind : config.ops.bind;
  if (web.enabled && web.token.empty() && web.basic_user.empty() && web.readers.empty() &&
      !web::is_loopback_address(bind)) {
    check.error(node, "ops web: the ops endpoints listen on " + bind +
                          ", which other hosts can reach; give the web view credentials "
                          "(token: {secret: name} or basic: {user: ..., password: {secret: "
                          "name}}) or bind 127.0.0.1");
  }
}

}  // namespace shipmate::bot
