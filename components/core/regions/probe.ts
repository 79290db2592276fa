import * as http from "node:http";
import * as https from "node:https";
import { PolicyError } from "../errors";
import { type MirrorPolicyInput, normaliseEndpoint } from "../policy";

/** A mirror to probe: its URL, and how to reach its registry API. */
export interface ProbeTarget {
  /** Mirror URL as in the policy. */
  url: string;
  /** The URL already is the API root (ECR pull-through): probe `/v2/` at the host instead of `<url>/v2/`. */
  overridePath?: boolean;
  /** Do not verify the TLS certificate. */
  insecure?: boolean;
}

/** Limits of one probe run. */
export interface ProbeOptions {
  /** Give up on one mirror after this many milliseconds (connect + response headers). Default 3000. */
  timeoutMs?: number;
  /** Probe at most this many mirrors at a time. Default 4. */
  concurrency?: number;
}

/** The outcome of probing one mirror. */
export interface ProbeResult {
  /** The mirror URL as given. */
  url: string;
  /** True when `GET /v2/` answered 200 or 401 (a registry that wants a token is alive). */
  ok: boolean;
  /** Milliseconds until the response headers arrived (rounded); absent for a failure. */
  latencyMs?: number;
  /** HTTP status, when there was a response. */
  status?: number;
  /** `HTTP 401`, `connection refused`, `no answer within 3000 ms`, ... */
  reason: string;
}

/** The URL probed for a target: the registry API base `/v2/`. */
export function probeUrl(target: ProbeTarget): string {
  const url = new URL(target.url);
  if (target.overridePath) return `${url.origin}/v2/`;
  const path = url.pathname.replace(/\/+$/, "");
  return `${url.origin}${path.endsWith("/v2") ? path : `${path}/v2`}/`;
}

function describeError(err: NodeJS.ErrnoException, timeoutMs: number): string {
  switch (err.code) {
    case "PROBE_TIMEOUT":
      return `no answer within ${timeoutMs} ms`;
    case "ECONNREFUSED":
      return "connection refused";
    case "ECONNRESET":
      return "connection reset";
    case "ENOTFOUND":
      return "host not found (DNS)";
    case "EAI_AGAIN":
      return "DNS lookup failed (temporary)";
    case "EHOSTUNREACH":
    case "ENETUNREACH":
      return "host unreachable";
    default:
      if (err.code && /CERT|SSL|TLS|SELF_SIGNED/.test(err.code)) return `TLS: ${err.message}`;
      return err.code ? `${err.code}: ${err.message}` : err.message;
  }
}

/** Probes one mirror with `GET /v2/`. Never throws: a failure is a result with its reason. */
export function probeMirror(target: ProbeTarget, timeoutMs: number): Promise<ProbeResult> {
  return new Promise((resolve) => {
    let url: string;
    try {
      url = probeUrl(target);
    } catch {
      resolve({ url: target.url, ok: false, reason: "not a URL" });
      return;
    }
    const started = process.hrtime.bigint();
    const client = url.startsWith("https:") ? https : http;
    let settled = false;
    const finish = (result: ProbeResult) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(result);
    };
    const req = client.request(
      url,
      {
        method: "GET",
        agent: false,
        headers: { "User-Agent": "registry-mirrors-probe", Accept: "application/json" },
        rejectUnauthorized: !target.insecure,
      },
      (res) => {
        const latencyMs = Math.round(Number(process.hrtime.bigint() - started) / 1e6);
        const status = res.statusCode ?? 0;
        res.resume();
        req.destroy();
        const ok = status === 200 || status === 401;
        finish({
          url: target.url,
          ok,
          status,
          ...(ok ? { latencyMs } : {}),
          reason: `HTTP ${status}${ok ? "" : " from /v2/ (not a registry API answer)"}`,
        });
      },
    );
    const timer = setTimeout(() => {
      const err: NodeJS.ErrnoException = new Error("timeout");
      err.code = "PROBE_TIMEOUT";
      req.destroy(err);
    }, timeoutMs);
    req.on("error", (err: NodeJS.ErrnoException) =>
      finish({ url: target.url, ok: false, reason: describeError(err, timeoutMs) }),
    );
    req.end();
  });
}

function positiveInteger(field: string, value: number | undefined, fallback: number, max: number): number {
  if (value === undefined) return fallback;
  if (!Number.isInteger(value) || value < 1 || value > max) {
    throw new PolicyError(field, value, `must be a whole number from 1 to ${max}`, `write e.g. ${fallback}`);
  }
  return value;
}

/**
 * Probes mirrors (`GET /v2/`; 200 or 401 means alive) with a bounded timeout and concurrency. Results: the
 * live mirrors fastest first, then the failed ones in the order given, each with its reason.
 */
export async function probeMirrors(
  targets: ReadonlyArray<string | ProbeTarget>,
  options: ProbeOptions = {},
): Promise<ProbeResult[]> {
  const timeoutMs = positiveInteger("probe.timeoutMs", options.timeoutMs, 3000, 60_000);
  const concurrency = positiveInteger("probe.concurrency", options.concurrency, 4, 64);
  const list = targets.map((t) => (typeof t === "string" ? { url: t } : t));
  const results: ProbeResult[] = new Array(list.length);
  let next = 0;
  const worker = async () => {
    while (next < list.length) {
      const i = next++;
      results[i] = await probeMirror(list[i], timeoutMs);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, list.length) }, worker));
  return sortResults(results);
}

/** Live first by latency, then failures; ties keep the given order (Array.prototype.sort is stable). */
export function sortResults(results: readonly ProbeResult[]): ProbeResult[] {
  return [...results].sort((a, b) => {
    if (a.ok !== b.ok) return a.ok ? -1 : 1;
    return a.ok ? (a.latencyMs ?? 0) - (b.latencyMs ?? 0) : 0;
  });
}

/** A comparable key for a mirror URL (normalised when it parses, as given otherwise). */
function mirrorKey(url: string): string {
  try {
    return normaliseEndpoint("mirror", url, { allowPath: true }).url;
  } catch {
    return url;
  }
}

function mirrorUrlOf(mirror: unknown): string {
  return typeof mirror === "string" ? mirror : String((mirror as { url?: unknown }).url);
}

/** The distinct mirrors of a policy in policy order, as probe targets. */
export function probeTargets(policy: MirrorPolicyInput): ProbeTarget[] {
  const seen = new Set<string>();
  const targets: ProbeTarget[] = [];
  for (const key of Object.keys(policy.registries)) {
    for (const m of policy.registries[key].mirrors) {
      const url = mirrorUrlOf(m);
      if (seen.has(mirrorKey(url))) continue;
      seen.add(mirrorKey(url));
      const target: ProbeTarget = { url };
      if (typeof m !== "string" && m.overridePath) target.overridePath = true;
      if (typeof m !== "string" && m.insecure) target.insecure = true;
      targets.push(target);
    }
  }
  return targets;
}

/** The policy after the probe, with what was dropped and why. */
export interface ProbeOrdering {
  policy: MirrorPolicyInput;
  warnings: string[];
  /** One line per dropped mirror: registry, URL and the probe's reason. */
  dropped: string[];
}

/** How {@link orderByProbe} uses the measured latencies. */
export interface ProbeOrderOptions {
  /**
   * `"policy"` (default): keep the policy's order and only drop the mirrors that failed, so latency noise never
   * changes the nodes' files. `"latency"`: also move a mirror ahead of an earlier one when it is clearly faster
   * (by more than `latencyMarginMs`).
   */
  order?: "policy" | "latency";
  /** With `order: "latency"`: how much faster, in milliseconds, a mirror must be to move ahead. Default 100. */
  latencyMarginMs?: number;
}

/** Default of {@link ProbeOrderOptions.latencyMarginMs}. */
export const DEFAULT_LATENCY_MARGIN_MS = 100;

/** Validates {@link ProbeOrderOptions} (the selector calls it at construction when they are known). */
export function checkProbeOrderOptions(options: ProbeOrderOptions): { order: "policy" | "latency"; margin: number } {
  const order = options.order ?? "policy";
  if (order !== "policy" && order !== "latency") {
    throw new PolicyError("probe.order", order, "unknown order", 'use "policy" (the default) or "latency"');
  }
  const margin = options.latencyMarginMs ?? DEFAULT_LATENCY_MARGIN_MS;
  if (typeof margin !== "number" || !Number.isFinite(margin) || margin < 0) {
    throw new PolicyError(
      "probe.latencyMarginMs",
      margin,
      "must be a number of milliseconds, 0 or more",
      `write e.g. ${DEFAULT_LATENCY_MARGIN_MS}`,
    );
  }
  return { order, margin };
}

/**
 * Drops the mirrors that failed the probe, keeping the policy order (or, with `order: "latency"`, moving a mirror
 * ahead only of those it beats by more than the margin). Mirrors without a result keep their place. It never drops
 * every mirror of a registry: when all failed, the policy stays as it was and a warning says so (the probe host may
 * simply not see the nodes' network).
 */
export function orderByProbe(
  policy: MirrorPolicyInput,
  results: readonly ProbeResult[],
  options: ProbeOrderOptions = {},
): ProbeOrdering {
  const { order, margin } = checkProbeOrderOptions(options);
  const byKey = new Map(results.map((r) => [mirrorKey(r.url), r]));
  const warnings: string[] = [];
  const dropped: string[] = [];
  const registries: MirrorPolicyInput["registries"] = {};
  for (const name of Object.keys(policy.registries)) {
    const entry = policy.registries[name];
    const mirrors = entry.mirrors.map((m) => ({ m, result: byKey.get(mirrorKey(mirrorUrlOf(m))) }));
    const dead = mirrors.filter((x) => x.result !== undefined && !x.result.ok);
    let kept = mirrors.filter((x) => x.result === undefined || x.result.ok);
    if (kept.length === 0) {
      kept = mirrors;
      warnings.push(
        `${name}: every mirror failed the probe (${dead.map((x) => `${mirrorUrlOf(x.m)}: ${x.result?.reason}`).join("; ")}); keeping the policy order`,
      );
    } else {
      for (const x of dead) dropped.push(`${name}: ${mirrorUrlOf(x.m)} dropped (${x.result?.reason})`);
      if (order === "latency") kept = byClearLatency(kept, margin);
    }
    registries[name] = { ...entry, mirrors: kept.map((x) => x.m) };
  }
  return { policy: { ...policy, registries }, warnings, dropped };
}

/**
 * Insertion in policy order: each mirror moves ahead of the ones before it only while it is faster than them by more
 * than `margin` ms. Mirrors without a latency stay where they are, and nothing moves ahead of them.
 */
function byClearLatency<T extends { result?: ProbeResult }>(mirrors: readonly T[], margin: number): T[] {
  const out: T[] = [];
  for (const x of mirrors) {
    let at = out.length;
    const latency = x.result?.latencyMs;
    if (latency !== undefined) {
      while (at > 0) {
        const before = out[at - 1].result?.latencyMs;
        if (before === undefined || latency + margin >= before) break;
        at--;
      }
    }
    out.splice(at, 0, x);
  }
  return out;
}

/** Probe results as plain text, best first: rank, latency or "failed", URL, status or reason. */
export function formatProbeTable(results: readonly ProbeResult[]): string {
  const sorted = sortResults(results);
  const urlWidth = Math.max(0, ...sorted.map((r) => r.url.length)) + 2;
  let rank = 0;
  const lines = sorted.map((r) => {
    const place = r.ok ? `${++rank}.` : "-";
    const time = r.ok ? `${r.latencyMs} ms` : "failed";
    return `${place.padStart(4)} ${time.padStart(8)}  ${r.url.padEnd(urlWidth)}${r.reason}`;
  });
  return lines.length > 0 ? `${lines.join("\n")}\n` : "no mirrors to probe\n";
}
