import { PolicyError } from "./errors";
import type { RestartPolicy } from "./render/types";

/** Every restart policy, in the order the errors list them. */
export const RESTART_POLICIES: readonly RestartPolicy[] = ["never", "if-needed"];

/** Checks a restart policy (`"never"` or `"if-needed"`) and returns it; anything else is a PolicyError naming `field`. */
export function checkRestartPolicy(value: unknown, field = "restartPolicy"): RestartPolicy {
  if (!RESTART_POLICIES.includes(value as RestartPolicy)) {
    throw new PolicyError(
      field,
      value,
      "unknown restart policy",
      'use "never" (reload only) or "if-needed" (restart a runtime when a changed setting requires it)',
    );
  }
  return value as RestartPolicy;
}
