// The runbooks the commands know: their definitions (from bot/runbook_config.h), what chat may
// name as parameters, where secret references point, and who may run which runbook where.
//
// Contract
// - Built once by the application from the loaded configuration; read-only afterwards, so it is
//   safe to share. It owns its definitions; a Definition pointer it hands out lives as long as
//   the library. The runs themselves are the RunbookRunner's (commands/runbook_runner.h), which
//   the application attaches with set_runner().
// - authorize_runbook() is pure: the environment's `runbook` permission (commands/model.h, open
//   outside production unless listed) and, when the runbook lists roles for that environment (or
//   "*") under allow:, one of those roles. Admins may always.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "commands/caller.h"
#include "commands/model.h"
#include "runbooks/definition.h"

namespace shipmate::commands {

class RunbookRunner;

class RunbookLibrary {
 public:
  RunbookLibrary(std::vector<runbooks::Definition> definitions, runbooks::ParamContext context,
                 std::map<std::string, runbooks::SecretSource> secrets);

  const runbooks::Definition* find(std::string_view name) const;
  const std::vector<runbooks::Definition>& all() const { return definitions_; }
  std::vector<std::string> names() const;
  const runbooks::ParamContext& context() const { return context_; }
  // A configured secret (secrets:) as a source the executor can read; null when unknown.
  const runbooks::SecretSource* secret(std::string_view name) const;

  // The environment a run with these chat parameters would act in: the environment parameter's
  // value or default. nullopt when the runbook has no environment parameter (or it is unset).
  std::optional<std::string> environment_of(const runbooks::Definition& definition,
                                            const std::map<std::string, std::string>& given) const;

  void set_runner(RunbookRunner* runner) { runner_ = runner; }
  RunbookRunner* runner() const { return runner_; }

 private:
  std::vector<runbooks::Definition> definitions_;
  runbooks::ParamContext context_;
  std::map<std::string, runbooks::SecretSource> secrets_;
  RunbookRunner* runner_ = nullptr;
};

// Whether `caller` may run `definition` in `environment` (null: the runbook names none).
PolicyDecision authorize_runbook(const runbooks::Definition& definition,
                                 const EnvironmentSpec* environment, const Caller& caller);

}  // namespace shipmate::commands
