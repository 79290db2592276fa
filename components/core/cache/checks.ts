/** The checks behind {@link resolveCacheSettings}: storage, TLS, credentials, addresses. */
import ipaddr from "ipaddr.js";
import { PolicyError } from "../errors";
import { parseQuantity, validateDnsSubdomain } from "../kubernetes/validators";
import { checkKnownFields, isPlainObject, parseCaBundle } from "../policy";
import type { ResolvedCacheSettings, ResolvedStorage, SecretKeyRef, UpstreamCredentialsRef } from "./settings";

export function checkReplicas(field: string, value: unknown, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== "number" || !Number.isInteger(value) || value < 1 || value > 20) {
    throw new PolicyError(field, value, "must be a whole number from 1 to 20", "write e.g. replicas: 2");
  }
  return value;
}

function checkSecretKeyRef(field: string, value: unknown): SecretKeyRef {
  if (!isPlainObject(value)) {
    throw new PolicyError(
      field,
      value,
      "must name a key of a Secret (credentials are never given as plain text)",
      'write { name: "dockerhub-account", key: "password" } and create that Secret (e.g. from a Pulumi secret)',
    );
  }
  checkKnownFields(field, value, ["name", "key"]);
  validateDnsSubdomain(`${field}.name`, value.name);
  if (typeof value.key !== "string" || !/^[-._a-zA-Z0-9]{1,253}$/.test(value.key)) {
    throw new PolicyError(`${field}.key`, value.key, "not a Secret key", 'write a key such as "password"');
  }
  return { name: value.name as string, key: value.key };
}

export function checkCredentials(field: string, value: unknown): UpstreamCredentialsRef | undefined {
  if (value === undefined) return undefined;
  if (!isPlainObject(value)) {
    throw new PolicyError(
      field,
      "(hidden)",
      "credentials come from a Secret, never as plain text",
      'write { username: { name: "SECRET", key: "username" }, password: { name: "SECRET", key: "password" } }',
    );
  }
  checkKnownFields(field, value, ["username", "password"]);
  return {
    username: checkSecretKeyRef(`${field}.username`, value.username),
    password: checkSecretKeyRef(`${field}.password`, value.password),
  };
}

const BUCKET = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;

export function checkStorage(field: string, value: unknown): ResolvedStorage {
  const fix =
    'give { pvc: { storageClassName: "gp3" } } (a PersistentVolumeClaim per replica), { s3: { bucket, region } } or { oss: { bucket, region, accessKey } }; PullThroughCache can create the bucket ({ s3: { create: true } })';
  if (!isPlainObject(value) || Object.keys(value).length !== 1) {
    throw new PolicyError(field, value, "storage needs exactly one of pvc, s3 or oss", fix);
  }
  checkKnownFields(field, value, ["pvc", "s3", "oss"]);
  const [kind] = Object.keys(value) as Array<"pvc" | "s3" | "oss">;
  const raw = value[kind];
  if (!isPlainObject(raw)) throw new PolicyError(`${field}.${kind}`, raw, "must be an object", fix);
  if (kind === "pvc") {
    checkKnownFields(`${field}.pvc`, raw, ["storageClassName", "size"]);
    if (raw.storageClassName === undefined) {
      throw new PolicyError(
        `${field}.pvc.storageClassName`,
        raw.storageClassName,
        "storage with neither a bucket nor a PVC storage class: the claims would wait for a default class the cluster may not have",
        fix,
      );
    }
    const storageClassName = validateDnsSubdomain(`${field}.pvc.storageClassName`, raw.storageClassName);
    const size = raw.size ?? "50Gi";
    if (parseQuantity(`${field}.pvc.size`, size) <= 0) {
      throw new PolicyError(`${field}.pvc.size`, size, "must be more than zero", 'write e.g. "50Gi"');
    }
    return { kind, storageClassName, size: String(size) };
  }
  checkKnownFields(
    `${field}.${kind}`,
    raw,
    kind === "s3"
      ? ["bucket", "region", "prefix", "accessKey"]
      : ["bucket", "region", "internal", "prefix", "accessKey"],
  );
  if (typeof raw.bucket !== "string" || !BUCKET.test(raw.bucket)) {
    throw new PolicyError(
      `${field}.${kind}.bucket`,
      raw.bucket,
      "storage with neither a bucket nor a PVC storage class (or a bucket name that is not valid)",
      fix,
    );
  }
  if (typeof raw.region !== "string" || !/^[a-z]{2}(-[a-z0-9]+)+$/.test(raw.region)) {
    throw new PolicyError(
      `${field}.${kind}.region`,
      raw.region,
      "not a region name",
      'write e.g. "us-west-2" or "cn-hangzhou"',
    );
  }
  const prefix = raw.prefix;
  if (prefix !== undefined && (typeof prefix !== "string" || !/^\/[A-Za-z0-9._/-]*$/.test(prefix))) {
    throw new PolicyError(
      `${field}.${kind}.prefix`,
      prefix,
      "must be an absolute path in the bucket",
      'write e.g. "/docker-io"',
    );
  }
  const accessKey = checkCredentials(`${field}.${kind}.accessKey`, raw.accessKey);
  if (kind === "s3") {
    return {
      kind,
      bucket: raw.bucket,
      region: raw.region,
      ...(prefix ? { prefix } : {}),
      ...(accessKey ? { accessKey } : {}),
    };
  }
  if (!accessKey) {
    throw new PolicyError(
      `${field}.oss.accessKey`,
      undefined,
      "Distribution's OSS driver needs an access key",
      "create a Secret with the RAM user's AccessKey ID and secret and name its keys here",
    );
  }
  return {
    kind,
    bucket: raw.bucket,
    region: raw.region,
    internal: raw.internal === undefined ? true : raw.internal === true,
    ...(prefix ? { prefix } : {}),
    accessKey,
  };
}

export function checkIp(field: string, value: unknown): string {
  if (typeof value !== "string" || !ipaddr.isValid(value)) {
    throw new PolicyError(
      field,
      value,
      "a fixed cluster IP is required: nodes reach the cache by address, since the runtime does not use cluster DNS",
      'give a free address inside the cluster\'s Service CIDR, e.g. "10.96.0.50" (kubectl cluster-info dump | grep service-cluster-ip-range)',
    );
  }
  return ipaddr.parse(value).toString();
}

export function hostPort(ip: string, port: number): string {
  return ip.includes(":") ? `[${ip}]:${port}` : `${ip}:${port}`;
}

export function checkTls(field: string, value: unknown, name: string): ResolvedCacheSettings["tls"] {
  const fix =
    "give tls: { secretName, ca } (your certificate), { certManager: { issuerName, ca } } (cert-manager issues it), or { plainHttp: true } to serve plain HTTP knowingly";
  if (!isPlainObject(value)) throw new PolicyError(field, value, "say how the caches serve TLS", fix);
  if (value.plainHttp !== undefined) {
    checkKnownFields(field, value, ["plainHttp"]);
    if (value.plainHttp !== true)
      throw new PolicyError(`${field}.plainHttp`, value.plainHttp, "only true is meaningful", fix);
    return { kind: "plainHttp" };
  }
  if (value.certManager !== undefined) {
    checkKnownFields(field, value, ["certManager"]);
    const cm = value.certManager;
    if (!isPlainObject(cm)) throw new PolicyError(`${field}.certManager`, cm, "must be an object", fix);
    checkKnownFields(`${field}.certManager`, cm, ["issuerName", "issuerKind", "ca", "duration"]);
    const issuerKind = cm.issuerKind ?? "ClusterIssuer";
    if (issuerKind !== "Issuer" && issuerKind !== "ClusterIssuer") {
      throw new PolicyError(
        `${field}.certManager.issuerKind`,
        issuerKind,
        "unknown issuer kind",
        'use "Issuer" or "ClusterIssuer"',
      );
    }
    if (
      cm.duration !== undefined &&
      (typeof cm.duration !== "string" || !/^(\d+h)?(\d+m)?(\d+s)?$/.test(cm.duration) || cm.duration === "")
    ) {
      throw new PolicyError(`${field}.certManager.duration`, cm.duration, "not a duration", 'write e.g. "2160h"');
    }
    return {
      kind: "certManager",
      secretName: `${name}-tls`,
      issuerName: validateDnsSubdomain(`${field}.certManager.issuerName`, cm.issuerName),
      issuerKind,
      ca: parseCaBundle(`${field}.certManager.ca`, cm.ca),
      ...(cm.duration ? { duration: cm.duration as string } : {}),
    };
  }
  checkKnownFields(field, value, ["secretName", "ca"]);
  if (value.secretName === undefined) throw new PolicyError(field, value, "say how the caches serve TLS", fix);
  return {
    kind: "secret",
    secretName: validateDnsSubdomain(`${field}.secretName`, value.secretName),
    ca: parseCaBundle(`${field}.ca`, value.ca),
  };
}

/** Checks and defaults the settings; throws a PolicyError naming the field, the value and the fix. */
