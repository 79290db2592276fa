/** The node script's watchdog, seen from TypeScript: its service's node folder and unit, and the plan check. */
import { PolicyError } from "./errors";

/**
 * The watchdog service's node folder (the script's copy the unit runs, and the unit file) and its systemd unit. Not
 * the ECR refresher's folder, which is that refresher's alone (restore empties it); the DaemonSet never installs the
 * service (its long-running container runs the watchdog instead), so its host mounts do not need this folder.
 */
export const WATCH_DIR = "/etc/registry-mirrors";
export const WATCH_UNIT = "registry-mirrors-watchdog";

/** Checks a rendered watch plan (JSON with version 1) and returns it ending in a newline. */
export function checkWatchPlan(text: unknown): string {
  let plan: unknown;
  try {
    plan = typeof text === "string" ? JSON.parse(text) : undefined;
  } catch {
    plan = undefined;
  }
  if (typeof plan !== "object" || plan === null || (plan as { version?: unknown }).version !== 1) {
    throw new PolicyError(
      "watch",
      typeof text === "string" ? "(plan hidden)" : text,
      "not a watchdog plan (JSON with version 1)",
      "render it with renderWatchPlan",
    );
  }
  return (text as string).endsWith("\n") ? (text as string) : `${text}\n`;
}
