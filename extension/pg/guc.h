// The extension's settings (GUCs), defined in _PG_init.
//
//   rollout.environment   which environment's configuration evaluation uses (default production)
//   rollout.missing_flag  what evaluating an unknown flag does: off (false, the default), warning, error
//   rollout.now           a timestamp that replaces the transaction start time as evaluation time
//                         (plans, override expiry); empty for the real time. For tests and previews.
//   rollout.actor         the application's own user id, recorded in rollout.audit_log
#pragma once

#include <cstdint>

enum RolloutMissingFlag { ROLLOUT_MISSING_OFF, ROLLOUT_MISSING_WARNING, ROLLOUT_MISSING_ERROR };

void rollout_define_gucs(void);
const char* rollout_environment_name(void);
int rollout_missing_flag_mode(void);
// Evaluation time in microseconds since the Unix epoch.
int64_t rollout_evaluation_time_us(void);
