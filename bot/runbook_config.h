// Runbook definitions from YAML: the shipped ones (runbooks/shipped.h) and those of the
// configured directory (`runbooks: {directory: path}`), parsed with the configuration loader's
// Checker so every problem is a file:line:col diagnostic with a did-you-mean.
//
// Contract
// - Called by parse_config() once the catalog (environments, services, users, secrets) is known;
//   never throws for bad input. A file with errors contributes no runbook; its diagnostics make
//   the configuration fail to load, as any other configuration error does.
// - What is checked: keys (with suggestions), names, parameter types and their defaults,
//   environments and roles named under allow: and vars:, each step's kind and fields, every
//   placeholder (a known parameter, a var defined for every environment the runbook lists, an
//   output of an earlier step), secrets only where they cannot be echoed (exec env:/files:, http
//   headers:/body:), an argv whose program is literal (chat never chooses what runs), and command
//   steps that name a real Shipmate command (never `runbook ...`, so runs cannot nest).
// - Each definition's hash is the SHA-256 of its file's text. A configured runbook with the name
//   of a shipped one replaces it (with a warning).
#pragma once

#include <string>
#include <string_view>

#include "bot/config.h"
#include "commands/runbook_library.h"

namespace shipmate::bot {

class Checker;

// Parses one runbook file's text into `config.runbooks` (diagnostics against `check`, whose file
// is the runbook's path).
void parse_runbook(Checker& check, std::string_view text, const std::string& display_path,
                   Config& config);

// The shipped runbooks, then every *.yaml / *.yml of `config.runbooks_dir` (when set).
// Diagnostics are appended to `out`.
void load_runbooks(Config& config, std::vector<Diagnostic>& out);

// The library the runbook commands use: the loaded definitions, the names chat may give as
// parameters, and the configured secrets as sources (references only; nothing is read here).
commands::RunbookLibrary make_runbook_library(const Config& config);

}  // namespace shipmate::bot
