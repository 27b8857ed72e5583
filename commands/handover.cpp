#include "commands/handover.h"

namespace shipmate::commands {

StopMode stop_mode(bool replicated, bool asked, bool lease_held) {
  return replicated && asked && lease_held ? StopMode::hand_over : StopMode::cancel;
}

DeployExit deploy_exit(bool survivor_can_resume) {
  return survivor_can_resume ? DeployExit::park : DeployExit::finish;
}

DrainStep drain_step(std::size_t still_finishing, EpochMillis now, EpochMillis deadline) {
  if (still_finishing == 0)
    return DrainStep::let_go;
  return now >= deadline ? DrainStep::cancel_rest : DrainStep::wait;
}

}  // namespace shipmate::commands
