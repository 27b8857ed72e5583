// `ops: web:` (bot/config_web.cpp): the web view's settings, read after `ops:` and `secrets:`.
#pragma once

#include "bot/config_checker.h"

namespace shipmate::bot {

void parse_web_view(Checker& check, const YAML::Node& node, Config& config);

}  // namespace shipmate::bot
