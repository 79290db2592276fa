/**
 * The in-cluster pull-secret refresher's program and config: the registries it renews (ECR and ACR Enterprise Edition
 * hosts, checked), the endpoints it calls, the token validities and the CronJob schedule.
 */
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { PolicyError } from "../errors";
import { DEFAULT_NODE_CONFIG_IMAGE } from "./node-config-spec";

/** File names in the refresher's ConfigMap, mounted at {@link REFRESHER_MOUNT_PATH}. */
export const REFRESHER_SCRIPT_KEY = "pull-secret-refresher.py";
export const REFRESHER_CONFIG_KEY = "config.json";
export const REFRESHER_MOUNT_PATH = "/refresher";
/** The script's modules, keys of the same ConfigMap: Python finds them in the script's folder. */
export const REFRESHER_MODULE_KEYS = ["refresher_common.py", "refresher_clouds.py", "refresher_kube.py"] as const;

/**
 * Default image of the refresher: the same pinned Python Alpine image as the node-config DaemonSet, so one copy in a
 * private registry serves both. The script needs only `python3` and its standard library (urllib, ssl, hmac, json).
 */
export const DEFAULT_REFRESHER_IMAGE = DEFAULT_NODE_CONFIG_IMAGE;

/** Validity of the tokens, in seconds: ECR 12 hours, ACR Enterprise Edition temporary tokens 1 hour. */
export const TOKEN_VALIDITY_SECONDS = { ecr: 12 * 3600, acr: 3600 } as const;

/**
 * A token is stale (a warning line and the `registry-mirrors.dev/stale` annotation) once older than half its
 * validity: the schedule renews it four times per validity, so stale means two renewals in a row failed, with half
 * the validity left to fix it.
 */
export const SAFE_AGE_SECONDS = { ecr: TOKEN_VALIDITY_SECONDS.ecr / 2, acr: TOKEN_VALIDITY_SECONDS.acr / 2 } as const;

/** The refresher program (Python 3.8+, standard library only). */
export function refresherScript(): string {
  return readFileSync(join(__dirname, REFRESHER_SCRIPT_KEY), "utf8");
}

/** The refresher's modules by file name ({@link REFRESHER_MODULE_KEYS}). */
export function refresherModules(): Record<string, string> {
  return Object.fromEntries(REFRESHER_MODULE_KEYS.map((key) => [key, readFileSync(join(__dirname, key), "utf8")]));
}

/** One registry the refresher renews, as its config gives it. */
export type RefresherRegistry =
  | { key: string; source: "ecr"; registryId: string; region: string; domain: string; safeAgeSeconds: number }
  | { key: string; source: "acr"; instanceId: string; region: string; safeAgeSeconds: number };

/** Endpoint URL templates (`{region}`, `{domain}`), to reach STS/ECR/ACR through VPC or FIPS endpoints. */
export interface RefresherEndpoints {
  /** AWS STS. Default `https://sts.{region}.{domain}`. */
  awsSts?: string;
  /** ECR API. Default `https://api.ecr.{region}.{domain}`. */
  ecr?: string;
  /** Alibaba Cloud STS. Default `https://sts.{region}.aliyuncs.com`. */
  alicloudSts?: string;
  /** ACR API. Default `https://cr.{region}.aliyuncs.com`. */
  acr?: string;
}

/** The refresher's config file (config.json). */
export interface RefresherConfig {
  secretName: string;
  namespaces: string[];
  registries: RefresherRegistry[];
  endpoints?: RefresherEndpoints;
}

const ECR_HOST = /^(\d{12})\.dkr\.ecr(?:-fips)?\.([a-z]{2}(?:-[a-z]+)+-\d)\.(amazonaws\.com(?:\.cn)?)$/;
const ACR_HOST = /^[a-z0-9][-a-z0-9]*-registry(?:-vpc)?\.([a-z]{2}-[a-z0-9-]+)\.cr\.aliyuncs\.com$/;

/** Account, region and domain of an ECR registry host (`123456789012.dkr.ecr.us-east-1.amazonaws.com`). */
export function ecrHostParts(host: string): { registryId: string; region: string; domain: string } | undefined {
  const m = ECR_HOST.exec(host);
  return m ? { registryId: m[1], region: m[2], domain: m[3] } : undefined;
}

/** Region of an ACR Enterprise Edition registry host (`<instance>-registry[-vpc].<region>.cr.aliyuncs.com`). */
export function acrHostRegion(host: string): string | undefined {
  return ACR_HOST.exec(host)?.[1];
}

/** The ECR entry of the config, from the host and the source's own (resolved) registryId/region. */
export function ecrRefresherRegistry(
  field: string,
  key: string,
  source: { registryId?: string; region?: string },
): RefresherRegistry {
  const parts = ecrHostParts(key);
  const registryId = source.registryId ?? parts?.registryId;
  const region = source.region ?? parts?.region;
  if (!registryId || !region) {
    throw new PolicyError(
      field,
      key,
      "the refresher cannot tell the ECR account and region from this host",
      "use the registry's own host (<account>.dkr.ecr.<region>.amazonaws.com) or give ecr.registryId and ecr.region",
    );
  }
  const domain = parts?.domain ?? (region.startsWith("cn-") ? "amazonaws.com.cn" : "amazonaws.com");
  return { key, source: "ecr", registryId, region, domain, safeAgeSeconds: SAFE_AGE_SECONDS.ecr };
}

/** The ACR entry of the config; the region comes from `region` or the host. */
export function acrRefresherRegistry(
  field: string,
  key: string,
  instanceId: string,
  region?: string,
): RefresherRegistry {
  const r = region ?? acrHostRegion(key);
  if (!r) {
    throw new PolicyError(
      field,
      key,
      "the refresher cannot tell the ACR region from this host",
      "use the instance's registry host (<name>-registry.<region>.cr.aliyuncs.com) or set refresher.alicloud.region",
    );
  }
  return { key, source: "acr", instanceId, region: r, safeAgeSeconds: SAFE_AGE_SECONDS.acr };
}

/**
 * The CronJob schedule: every 3 hours when only ECR tokens (12 h) are renewed, every 15 minutes with an ACR token
 * (1 h) — four renewals per validity, so two failed runs in a row still leave a valid token. The minute is spread
 * by the name, so many refreshers do not all call the cloud APIs at the same second.
 */
export function refresherSchedule(name: string, sources: ReadonlyArray<"ecr" | "acr">): string {
  const minute = createHash("sha256").update(name).digest()[0] % 60;
  if (sources.includes("acr")) return `${minute % 15}-59/15 * * * *`;
  return `${minute} */3 * * *`;
}

/** Validates a five-field cron schedule as the CronJob controller reads it (or a `@hourly`-style macro). */
export function validateSchedule(field: string, value: unknown): string {
  const macros = ["@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly"];
  const fieldOk = (f: string) =>
    /^(\*|[0-9A-Za-z]+(-[0-9A-Za-z]+)?)(\/[0-9]+)?(,(\*|[0-9A-Za-z]+(-[0-9A-Za-z]+)?)(\/[0-9]+)?)*$/.test(f);
  if (
    typeof value !== "string" ||
    !(macros.includes(value) || (value.split(" ").length === 5 && value.split(" ").every(fieldOk)))
  ) {
    throw new PolicyError(
      field,
      value,
      "not a five-field cron schedule",
      'write e.g. "17 */3 * * *" (every 3 hours), and renew at least every quarter of the token validity',
    );
  }
  return value;
}

/** The secret's content before the refresher's first run: an empty `auths`, which the API server accepts. */
export const PLACEHOLDER_DOCKER_CONFIG_JSON = '{"auths":{}}';
