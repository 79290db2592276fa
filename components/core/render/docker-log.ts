/** The `log-opts` dockerd accepts per log driver, and the value forms it parses (from the drivers' documentation). */
import { PolicyError } from "../errors";

const TAGS = ["tag", "labels", "labels-regex", "env", "env-regex"];
/** Options every driver takes: the log mode, its buffer, and dual logging's local cache (dockerd 20.10+). */
const COMMON = ["mode", "max-buffer-size", "cache-disabled", "cache-max-size", "cache-max-file", "cache-compress"];

/** The built-in log drivers and their options (a plugin driver, named with a "/" or not listed, takes any). */
export const LOG_DRIVER_OPTS: Record<string, readonly string[]> = {
  none: [],
  local: ["max-size", "max-file", "compress"],
  "json-file": ["max-size", "max-file", "compress", ...TAGS],
  journald: TAGS,
  syslog: [
    "syslog-address",
    "syslog-facility",
    "syslog-tls-ca-cert",
    "syslog-tls-cert",
    "syslog-tls-key",
    "syslog-tls-skip-verify",
    "syslog-format",
    ...TAGS,
  ],
  fluentd: [
    "fluentd-address",
    "fluentd-async",
    "fluentd-async-connect",
    "fluentd-buffer-limit",
    "fluentd-max-retries",
    "fluentd-request-ack",
    "fluentd-retry-wait",
    "fluentd-sub-second-precision",
    "fluentd-write-timeout",
    ...TAGS,
  ],
  awslogs: [
    "awslogs-region",
    "awslogs-endpoint",
    "awslogs-group",
    "awslogs-stream",
    "awslogs-create-group",
    "awslogs-create-stream",
    "awslogs-datetime-format",
    "awslogs-multiline-pattern",
    "awslogs-credentials-endpoint",
    "awslogs-force-flush-interval-seconds",
    "awslogs-max-buffered-events",
    "awslogs-format",
    "tag",
  ],
  gelf: [
    "gelf-address",
    "gelf-compression-type",
    "gelf-compression-level",
    "gelf-tcp-max-reconnect",
    "gelf-tcp-reconnect-delay",
    ...TAGS,
  ],
  splunk: [
    "splunk-token",
    "splunk-url",
    "splunk-source",
    "splunk-sourcetype",
    "splunk-index",
    "splunk-capath",
    "splunk-caname",
    "splunk-insecureskipverify",
    "splunk-format",
    "splunk-verify-connection",
    "splunk-gzip",
    "splunk-gzip-level",
    ...TAGS,
  ],
  gcplogs: ["gcp-project", "gcp-log-cmd", "gcp-meta-zone", "gcp-meta-name", "gcp-meta-id", ...TAGS],
  logentries: ["logentries-token", "line-only", ...TAGS],
  etwlogs: [],
};

const SIZE = /^\d+(\.\d+)? ?[kmgtp]?i?b?$/i; // go-units RAMInBytes/FromHumanSize
const BOOL = /^(1|t|T|TRUE|true|True|0|f|F|FALSE|false|False)$/; // Go's strconv.ParseBool
const FORMS: Record<string, [RegExp, string, string]> = {
  "max-size": [SIZE, "a size", '"100m"'],
  "cache-max-size": [SIZE, "a size", '"20m"'],
  "max-buffer-size": [SIZE, "a size", '"4m"'],
  "max-file": [/^[1-9]\d{0,8}$/, "a whole number of files, 1 or more", '"3"'],
  "cache-max-file": [/^[1-9]\d{0,8}$/, "a whole number of files, 1 or more", '"5"'],
  compress: [BOOL, "true or false", '"true"'],
  "cache-compress": [BOOL, "true or false", '"true"'],
  "cache-disabled": [BOOL, "true or false", '"false"'],
  mode: [/^(blocking|non-blocking)$/, "blocking or non-blocking", '"non-blocking"'],
};

/**
 * Checks `log-opts` for `driver` (the policy's log driver; without one any built-in driver's options are allowed, as
 * the node's own driver is unknown): names the driver documents and the value forms dockerd parses.
 */
export function checkLogOpts(field: string, opts: Record<string, string>, driver: string | undefined): void {
  if (driver !== undefined && !Object.hasOwn(LOG_DRIVER_OPTS, driver)) return;
  const known = driver === undefined ? [...new Set(Object.values(LOG_DRIVER_OPTS).flat())] : LOG_DRIVER_OPTS[driver];
  for (const [name, value] of Object.entries(opts)) {
    if (!COMMON.includes(name) && !known.includes(name)) {
      throw new PolicyError(
        `${field}.${name}`,
        name,
        `the ${driver ?? "built-in"} log driver${driver ? "" : "s"} ${driver ? "has" : "have"} no such option, and dockerd would refuse to start`,
        known.length > 0
          ? `use one of ${[...known, ...COMMON].join(", ")}`
          : `remove the log options (${driver} takes none but ${COMMON.join(", ")})`,
      );
    }
    const form = FORMS[name];
    if (form && !form[0].test(value)) {
      throw new PolicyError(`${field}.${name}`, value, `must be ${form[1]}`, `write e.g. ${form[2]}`);
    }
  }
}
