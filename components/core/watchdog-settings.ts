/** The watchdog's settings: what users write, the validated timings with their defaults, and the load bounds. */
import { PolicyError } from "./errors";
import { checkKnownFields } from "./policy";

/** Watchdog settings as a user writes them (every field optional; defaults in {@link WATCHDOG_DEFAULTS}). */
export interface WatchdogSettingsInput {
  /** Seconds between probes of a healthy endpoint (default 30). The main cost knob at fleet scale. */
  intervalSeconds?: number;
  /** Seconds between probes while a failure is suspected or a recovery is being confirmed (default 2). */
  suspectIntervalSeconds?: number;
  /** Longest wait between probes of a down endpoint: the wait starts at `intervalSeconds` and doubles (default 240). */
  maxBackoffSeconds?: number;
  /** Seconds to connect (TCP and TLS) before a probe fails (default 3). */
  connectTimeoutSeconds?: number;
  /** Seconds from sending `GET /v2/` to the first byte of the answer before a probe fails (default 5). */
  firstByteTimeoutSeconds?: number;
  /** Consecutive failed probes that take an endpoint out of the effective files (K, default 2). */
  failuresToDown?: number;
  /** Consecutive good probes that put a down endpoint back (M, default 3). */
  successesToUp?: number;
  /** Each wait is scaled by a random factor in [1 - jitter, 1 + jitter] (default 0.2), so nodes do not probe in step. */
  jitter?: number;
  /** Node folder of the watchdog's state and status.json (default `/var/lib/registry-mirrors/watchdog`). */
  stateDir?: string;
  /**
   * Node path of the Prometheus metrics for node_exporter's textfile collector (must end in `.prom`; default
   * `/var/lib/node_exporter/textfile_collector/registry_mirrors.prom`), or `false` for none.
   */
  metricsFile?: string | false;
}

/** The validated timings, as the plan carries them. */
export interface WatchTimings {
  intervalSeconds: number;
  suspectIntervalSeconds: number;
  maxBackoffSeconds: number;
  connectTimeoutSeconds: number;
  firstByteTimeoutSeconds: number;
  failuresToDown: number;
  successesToUp: number;
  jitter: number;
}

export const WATCHDOG_DEFAULTS: Readonly<WatchTimings & { stateDir: string; metricsFile: string }> = {
  intervalSeconds: 30,
  suspectIntervalSeconds: 2,
  maxBackoffSeconds: 240,
  connectTimeoutSeconds: 3,
  firstByteTimeoutSeconds: 5,
  failuresToDown: 2,
  successesToUp: 3,
  jitter: 0.2,
  stateDir: "/var/lib/registry-mirrors/watchdog",
  metricsFile: "/var/lib/node_exporter/textfile_collector/registry_mirrors.prom",
};

const SETTINGS_FIELDS = [
  "intervalSeconds",
  "suspectIntervalSeconds",
  "maxBackoffSeconds",
  "connectTimeoutSeconds",
  "firstByteTimeoutSeconds",
  "failuresToDown",
  "successesToUp",
  "jitter",
  "stateDir",
  "metricsFile",
] as const;
const SAFE_PATH = /^\/[A-Za-z0-9._+@:/-]+$/;

function numberSetting(
  field: string,
  value: unknown,
  fallback: number,
  min: number,
  max: number,
  integer = false,
): number {
  if (value === undefined) return fallback;
  if (typeof value !== "number" || !Number.isFinite(value) || value < min || value > max) {
    throw new PolicyError(
      `watchdog.${field}`,
      value,
      `must be a number from ${min} to ${max}`,
      `give a number in that range, or leave it out for the default ${fallback}`,
    );
  }
  if (integer && !Number.isInteger(value)) {
    throw new PolicyError(`watchdog.${field}`, value, "must be a whole number", `give e.g. ${fallback}`);
  }
  return value;
}

function pathSetting(field: string, value: unknown, fallback: string, suffix = ""): string {
  if (value === undefined) return fallback;
  if (
    typeof value !== "string" ||
    !SAFE_PATH.test(value) ||
    value.split("/").some((p) => p === "." || p === "..") ||
    value.endsWith("/") ||
    !value.endsWith(suffix)
  ) {
    throw new PolicyError(
      `watchdog.${field}`,
      value,
      `must be an absolute node path of letters, digits and ._-+@: without . or .. parts${suffix ? `, ending in ${suffix}` : ""}`,
      `give e.g. "${fallback}"`,
    );
  }
  return value;
}

/** Validates the watchdog settings and fills in the defaults. */
export function resolveWatchdogSettings(
  input: WatchdogSettingsInput = {},
): WatchTimings & { stateDir: string; metricsFile: string | null } {
  if (typeof input !== "object" || input === null || Array.isArray(input)) {
    throw new PolicyError("watchdog", input, "must be an object", "write e.g. { intervalSeconds: 30 }");
  }
  checkKnownFields("watchdog", input, SETTINGS_FIELDS);
  const d = WATCHDOG_DEFAULTS;
  const intervalSeconds = numberSetting("intervalSeconds", input.intervalSeconds, d.intervalSeconds, 1, 3600);
  const suspectIntervalSeconds = numberSetting(
    "suspectIntervalSeconds",
    input.suspectIntervalSeconds,
    Math.min(d.suspectIntervalSeconds, intervalSeconds),
    0.1,
    intervalSeconds,
  );
  const maxBackoffSeconds = numberSetting(
    "maxBackoffSeconds",
    input.maxBackoffSeconds,
    Math.max(d.maxBackoffSeconds, intervalSeconds),
    intervalSeconds,
    86400,
  );
  const connectTimeoutSeconds = numberSetting(
    "connectTimeoutSeconds",
    input.connectTimeoutSeconds,
    d.connectTimeoutSeconds,
    0.1,
    60,
  );
  const firstByteTimeoutSeconds = numberSetting(
    "firstByteTimeoutSeconds",
    input.firstByteTimeoutSeconds,
    d.firstByteTimeoutSeconds,
    0.1,
    60,
  );
  const failuresToDown = numberSetting("failuresToDown", input.failuresToDown, d.failuresToDown, 1, 20, true);
  const successesToUp = numberSetting("successesToUp", input.successesToUp, d.successesToUp, 1, 20, true);
  const jitter = numberSetting("jitter", input.jitter, d.jitter, 0, 0.5);
  const stateDir = pathSetting("stateDir", input.stateDir, d.stateDir);
  let metricsFile: string | null = d.metricsFile;
  if (input.metricsFile === false) metricsFile = null;
  else if (input.metricsFile !== undefined)
    metricsFile = pathSetting("metricsFile", input.metricsFile, d.metricsFile, ".prom");
  return {
    intervalSeconds,
    suspectIntervalSeconds,
    maxBackoffSeconds,
    connectTimeoutSeconds,
    firstByteTimeoutSeconds,
    failuresToDown,
    successesToUp,
    jitter,
    stateDir,
    metricsFile,
  };
}

/** The documented bounds of the watchdog for some timings (the module doc of watchdog.py states them for the defaults). */
export interface WatchdogBounds {
  /** Longest time from an endpoint failing (refusing, stalling, vanishing) until it is out of the effective files. */
  detectSeconds: number;
  /** Longest time from a down endpoint answering again until it is back, once its backoff reached its maximum. */
  recoverSeconds: number;
  /** Probes per endpoint per node and hour while everything is healthy (mean). */
  probesPerHourHealthy: number;
  /** Requests per second one mirror receives from `nodes` nodes while healthy (mean). */
  fleetRequestsPerSecondHealthy: number;
  /** Upper bound of the requests per second one mirror receives from `nodes` nodes, in any state (long-run mean). */
  fleetRequestsPerSecondMax: number;
}

/**
 * The bounds that follow from the probe schedule. A healthy endpoint is probed once per interval. After a failure it
 * is probed every suspect interval until K failures (down) or one success (back to the interval): at most K probes
 * per interval. A down endpoint waits interval, 2 x interval, ... up to maxBackoff; after a success it is probed every
 * suspect interval until M successes (up) or a failure (back to waiting): at most M probes per wait. So no state
 * probes more than max(K, M) times per interval x (1 - jitter).
 */
export function watchdogBounds(t: WatchTimings, nodes = 10_000): WatchdogBounds {
  const probe = t.connectTimeoutSeconds + t.firstByteTimeoutSeconds;
  const slow = 1 + t.jitter;
  const round = (n: number) => Math.round(n * 10) / 10;
  return {
    detectSeconds: round(
      t.intervalSeconds * slow + t.failuresToDown * probe + (t.failuresToDown - 1) * t.suspectIntervalSeconds * slow,
    ),
    recoverSeconds: round(
      t.maxBackoffSeconds * slow + t.successesToUp * probe + (t.successesToUp - 1) * t.suspectIntervalSeconds * slow,
    ),
    probesPerHourHealthy: round(3600 / t.intervalSeconds),
    fleetRequestsPerSecondHealthy: round(nodes / t.intervalSeconds),
    fleetRequestsPerSecondMax: round(
      (nodes * Math.max(t.failuresToDown, t.successesToUp)) / (t.intervalSeconds * (1 - t.jitter)),
    ),
  };
}
