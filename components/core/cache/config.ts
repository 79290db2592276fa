/**
 * The Distribution configuration of one cache (`config.yml` in its ConfigMap) and the environment that completes it
 * from Secrets. It holds no credential: Distribution reads `REGISTRY_<SECTION>_<KEY>` variables over the file, so the
 * upstream password and a bucket's access key come from `secretKeyRef`s.
 */
import YAML from "yaml";
import { CACHE_PORT, DATA_DIR, type ResolvedCacheSettings, type ResolvedUpstream, TLS_DIR } from "./settings";

/** The file name of the configuration in the ConfigMap and in the container. */
export const CONFIG_FILE = "config.yml";

/** An environment variable of the cache container: a value, or a key of a Secret. */
export interface CacheEnvVar {
  name: string;
  value?: string;
  valueFrom?: { secretKeyRef: { name: string; key: string } };
}

function storageSection(upstream: ResolvedUpstream): Record<string, unknown> {
  const s = upstream.storage;
  const common = { cache: { blobdescriptor: "inmemory" }, delete: { enabled: true } };
  if (s.kind === "pvc") return { filesystem: { rootdirectory: DATA_DIR }, ...common };
  if (s.kind === "s3") {
    return {
      s3: { region: s.region, bucket: s.bucket, secure: true, rootdirectory: s.prefix ?? `/${upstream.slug}` },
      ...common,
    };
  }
  return {
    oss: {
      region: `oss-${s.region}`,
      bucket: s.bucket,
      internal: s.internal,
      secure: true,
      rootdirectory: s.prefix ?? `/${upstream.slug}`,
    },
    ...common,
  };
}

/** The `config.yml` of one cache: Distribution in proxy mode against the upstream, TLS unless plain HTTP was asked for. */
export function renderCacheConfig(settings: ResolvedCacheSettings, upstream: ResolvedUpstream): string {
  const http: Record<string, unknown> = {
    addr: `:${CACHE_PORT}`,
    headers: { "X-Content-Type-Options": ["nosniff"] },
  };
  if (settings.tls.kind !== "plainHttp") {
    http.tls = { certificate: `${TLS_DIR}/tls.crt`, key: `${TLS_DIR}/tls.key` };
  }
  const config = {
    version: 0.1,
    log: { level: "info", formatter: "text", accesslog: { disabled: false } },
    storage: storageSection(upstream),
    http,
    health: { storagedriver: { enabled: true, interval: "10s", threshold: 3 } },
    proxy: { remoteurl: upstream.remoteUrl },
  };
  return `# Written by registry-mirrors (PullThroughCache): the ${upstream.registry} cache.\n${YAML.stringify(config)}`;
}

/** The environment of one cache's container: the Secret-held upstream credentials and bucket keys. */
export function cacheEnv(upstream: ResolvedUpstream): CacheEnvVar[] {
  const ref = (name: string, key: { name: string; key: string }): CacheEnvVar => ({
    name,
    valueFrom: { secretKeyRef: { name: key.name, key: key.key } },
  });
  const env: CacheEnvVar[] = [];
  if (upstream.credentials) {
    env.push(ref("REGISTRY_PROXY_USERNAME", upstream.credentials.username));
    env.push(ref("REGISTRY_PROXY_PASSWORD", upstream.credentials.password));
  }
  const s = upstream.storage;
  if (s.kind === "s3" && s.accessKey) {
    env.push(ref("REGISTRY_STORAGE_S3_ACCESSKEY", s.accessKey.username));
    env.push(ref("REGISTRY_STORAGE_S3_SECRETKEY", s.accessKey.password));
  }
  if (s.kind === "oss") {
    env.push(ref("REGISTRY_STORAGE_OSS_ACCESSKEYID", s.accessKey.username));
    env.push(ref("REGISTRY_STORAGE_OSS_ACCESSKEYSECRET", s.accessKey.password));
  }
  return env;
}
