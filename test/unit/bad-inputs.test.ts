import { afterAll, describe, expect, it } from "vitest";
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { main } from "../../cli/main";
import { REDACTED } from "../../components/core/errors";
import { renderNodeConfig } from "../../components/core/render/node-config";
import { API_INPUTS } from "../support/bad-inputs";
import { errorOf } from "./policy-error";

const dir = mkdtempSync(join(tmpdir(), "rm-bad-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** The credentials planted in the inputs ("...-secret-N"): none may show in any message. */
const secretsIn = (input: unknown): string[] => JSON.stringify(input ?? null).match(/[\w-]*secret-\d+/g) ?? [];

async function cli(args: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(args, { out: (l) => out.push(l), err: (l) => err.push(l) });
  return { code, out: out.join("\n"), err: err.join("\n") };
}

// [name, field, the value as the message shows it, the fix]: the name finds the input in API_INPUTS.
const API_TABLE: Array<[string, string, string, string]> = [
  ["mirrors not a list", "mirrors", '"https://m.example"', 'write mirrors: ["https://mirror.example.com"]'],
  [
    "empty mirror URL",
    'policy.registries["docker.io"].mirrors[0]',
    '""',
    'give a URL such as "https://mirror.example.com"',
  ],
  [
    "mirror without scheme",
    'policy.registries["docker.io"].mirrors[0]',
    '"m.example"',
    'write the scheme out: "https://m.example" (or http:// for a plain-HTTP mirror)',
  ],
  [
    "ftp mirror",
    'policy.registries["docker.io"].mirrors[0]',
    '"ftp://m.example"',
    "use https:// (or http:// for a plain-HTTP mirror)",
  ],
  [
    "mirror with empty host",
    'policy.registries["docker.io"].mirrors[0]',
    '"https://"',
    "write it as https://host[:port]",
  ],
  [
    "mirror with user:password",
    'policy.registries["docker.io"].mirrors[0]',
    '"https://***@m.example"',
    "remove the user:password part before the @ and give credentials through RegistryCredentialSecret or the runtime's auth settings",
  ],
  [
    "mirror with a user",
    'policy.registries["docker.io"].mirrors[0]',
    '"https://***@m.example"',
    "remove the user:password part before the @ and give credentials through RegistryCredentialSecret or the runtime's auth settings",
  ],
  [
    "mirror with user:password and no scheme",
    'policy.registries["docker.io"].mirrors[0]',
    '"***@m.example"',
    'write the scheme out: "https://***@m.example" (or http:// for a plain-HTTP mirror)',
  ],
  [
    "mirror with a query",
    'policy.registries["docker.io"].mirrors[0]',
    '"https://m.example?x=1"',
    'remove everything from "?"',
  ],
  [
    "mirror with a fragment",
    'policy.registries["docker.io"].mirrors[0]',
    '"https://m.example#f"',
    'remove everything from "#"',
  ],
  [
    "mirror with a path",
    'policy.registries["docker.io"].mirrors[0]',
    '"https://m.example/path"',
    "remove the path, or set allowMirrorPaths: true if every node runs dockerd 24.0.7+ or no Docker",
  ],
  [
    "hex IPv4 host",
    'policy.registries["docker.io"].mirrors[0]',
    '"0x7f.0.0.1"',
    'write only the host and optional port, e.g. "registry.example.com:5000" (no scheme, path or spaces)',
  ],
  [
    "integer IPv4 host",
    'policy.registries["docker.io"].mirrors[0]',
    '"2130706433"',
    'write only the host and optional port, e.g. "registry.example.com:5000" (no scheme, path or spaces)',
  ],
  [
    "octet over 255",
    'policy.registries["docker.io"].mirrors[0]',
    '"https://999.1.1.1:5000"',
    "write it as https://host[:port]",
  ],
  [
    "port 0",
    'policy.registries["docker.io"].mirrors[0]',
    '"m.example:0"',
    'write only the host and optional port, e.g. "registry.example.com:5000" (no scheme, path or spaces)',
  ],
  [
    "port over 65535",
    'policy.registries["docker.io"].mirrors[0]',
    '"https://m.example:70000"',
    "write it as https://host[:port]",
  ],
  [
    "space in the host",
    'policy.registries["docker.io"].mirrors[0]',
    '"https://m ex.com"',
    "write it as https://host[:port]",
  ],
  [
    "unclosed IPv6 bracket",
    'policy.registries["docker.io"].mirrors[0]',
    '"https://[::1"',
    "write it as https://host[:port]",
  ],
  [
    "mirror is a number",
    'policy.registries["docker.io"].mirrors[0]',
    "42",
    'write "https://mirror.example.com" or { url: "https://mirror.example.com" }',
  ],
  [
    "mirror object with an unknown field",
    'policy.registries["docker.io"].mirrors[0].bogus',
    '"bogus"',
    "remove it, or use one of: url, insecure, caFile, clientCertFile, clientKeyFile, capabilities, overridePath, dialTimeout, headers, pullFromMirror, auth",
  ],
  [
    "empty capabilities",
    'policy.registries["docker.io"].mirrors[0].capabilities',
    "[]",
    'use a subset of ["pull", "resolve", "push"]',
  ],
  [
    "unknown capability",
    'policy.registries["docker.io"].mirrors[0].capabilities',
    '"fly"',
    'use only "pull", "resolve" and "push"',
  ],
  [
    "dialTimeout in words",
    'policy.registries["docker.io"].mirrors[0].dialTimeout',
    '"3 seconds"',
    'write a Go duration such as "3s", "500ms" or "1m30s"',
  ],
  [
    "dialTimeout over Go's longest duration",
    'policy.registries["docker.io"].mirrors[0].dialTimeout',
    '"2562048h"',
    'write a dial timeout of seconds, such as "3s"',
  ],
  [
    "dialTimeout as a number",
    'policy.registries["docker.io"].mirrors[0].dialTimeout',
    "3",
    'write a Go duration such as "3s", "500ms" or "1m30s"',
  ],
  [
    "dialTimeout with a sign",
    'policy.registries["docker.io"].mirrors[0].dialTimeout',
    '"-3s"',
    'write a Go duration such as "3s", "500ms" or "1m30s"',
  ],
  [
    "headers as a list",
    'policy.registries["docker.io"].mirrors[0].headers',
    "(redacted)",
    'write { "X-Header": "value" }',
  ],
  [
    "header name with a space",
    'policy.registries["docker.io"].mirrors[0].headers',
    "(redacted)",
    'use letters, digits and hyphens, e.g. "X-Mirror-Token"',
  ],
  [
    "header value over two lines",
    'policy.registries["docker.io"].mirrors[0].headers.X-Token',
    "(redacted)",
    "remove line breaks from the value",
  ],
  [
    "header value a number",
    'policy.registries["docker.io"].mirrors[0].headers.X-Token',
    "(redacted)",
    "remove line breaks from the value",
  ],
  [
    "unknown pullFromMirror",
    'policy.registries["docker.io"].mirrors[0].pullFromMirror',
    '"some"',
    'use "all", "digest-only" or "tag-only"',
  ],
  [
    "insecure as a string",
    'policy.registries["docker.io"].mirrors[0].insecure',
    '"yes"',
    "write true or false without quotes",
  ],
  [
    "relative caFile",
    'policy.registries["docker.io"].mirrors[0].caFile',
    '"relative.pem"',
    'give the full path, e.g. "/etc/pki/mirror-ca.pem"',
  ],
  [
    "relative clientCertFile",
    'policy.registries["docker.io"].mirrors[0].clientCertFile',
    '"cert.pem"',
    'give the full path, e.g. "/etc/pki/mirror-ca.pem"',
  ],
  [
    "overridePath as a string",
    'policy.registries["docker.io"].mirrors[0].overridePath',
    '"yes"',
    "write true or false without quotes",
  ],
  [
    "policy a list",
    "policy",
    "[]",
    'write { registries: { "docker.io": { mirrors: ["https://mirror.example.com"] } } }',
  ],
  [
    "registries a list",
    "policy.registries",
    "[]",
    'write { "docker.io": { mirrors: ["https://mirror.example.com"] } }',
  ],
  [
    "registry mirrors not a list",
    'policy.registries["docker.io"].mirrors',
    '"https://m.example"',
    'write mirrors: ["https://mirror.example.com"]',
  ],
  [
    "registry key a URL",
    'policy.registries["https://ghcr.io"]',
    '"https://ghcr.io"',
    'write only the host, e.g. "ghcr.io"',
  ],
  [
    "registry key with a path",
    'policy.registries["ghcr.io/org"]',
    '"ghcr.io/org"',
    'write only the host and optional port, e.g. "registry.example.com:5000" (no scheme, path or spaces)',
  ],
  [
    "registry key octet over 255",
    'policy.registries["999.1.1.1"]',
    '"999.1.1.1"',
    'write only the host and optional port, e.g. "registry.example.com:5000" (no scheme, path or spaces)',
  ],
  [
    "registry key hex IPv4",
    'policy.registries["0x0a.0.0.1"]',
    '"0x0a.0.0.1"',
    'write only the host and optional port, e.g. "registry.example.com:5000" (no scheme, path or spaces)',
  ],
  [
    "upstreamFallback as a string",
    'policy.registries["ghcr.io"].upstreamFallback',
    '"no"',
    "write true or false without quotes",
  ],
  [
    "registry entry with an unknown field",
    'policy.registries["ghcr.io"].mirror',
    '"mirror"',
    "remove it, or use one of: mirrors, upstreamFallback",
  ],
  ["allowMirrorPaths as a string", "policy.allowMirrorPaths", '"yes"', "write true or false without quotes"],
  [
    "policy with an unknown field",
    "policy.registry",
    '"registry"',
    "remove it, or use one of: registries, allowMirrorPaths, allowDeprecatedMirrors",
  ],
  [
    "a known-dead public mirror",
    'policy.registries["docker.io"].mirrors[0]',
    '"https://registry.docker-cn.com"',
    "remove it and use your cloud's registry mirror for the node's region (an ECR pull-through cache on AWS, the account's accelerator https://<id>.mirror.aliyuncs.com on Alibaba Cloud) or your own pull-through cache (set policy.allowDeprecatedMirrors: true only if you know it works from your network)",
  ],
  [
    "__proto__ as a registry",
    "policy.registries.__proto__",
    '"__proto__"',
    "remove it (no daemon.json key, registry, header or setting has this name)",
  ],
  [
    "constructor as a registry",
    "policy.registries.constructor",
    '"constructor"',
    "remove it (no daemon.json key, registry, header or setting has this name)",
  ],
  [
    "a custom prototype in the policy",
    "policy",
    '"(an object with a custom prototype)"',
    "write a plain { ... } object without __proto__",
  ],
  ["docker settings a list", "docker", "[]", 'write e.g. { execOpts: ["native.cgroupdriver=systemd"] }'],
  [
    "docker settings with an unknown field",
    "docker.liveRestor",
    '"liveRestor"',
    "remove it, or use one of: insecureRegistries, allowPublicInsecureRegistries, execOpts, logDriver, logOpts, liveRestore, maxConcurrentDownloads, maxConcurrentUploads, maxDownloadAttempts, dataRoot, storageDriver, storageOpts, dns, dnsSearch, dnsOpts, defaultAddressPools, bip, mtu, debug, logLevel, labels, features, allowNondistributableArtifacts, defaultUlimits, defaultRuntime, shutdownTimeout, extra",
  ],
  [
    "insecureRegistries a string",
    "docker.insecureRegistries",
    '"10.0.0.0/8"',
    'write e.g. ["10.0.0.0/8", "registry.local:5000"]',
  ],
  [
    "insecure CIDR /33",
    "docker.insecureRegistries[0]",
    '"10.0.0.0/33"',
    'write a network such as "10.0.0.0/8" (address, slash, prefix length 0-32 for IPv4 or 0-128 for IPv6)',
  ],
  [
    "insecure 0.0.0.0/0",
    "docker.insecureRegistries[0]",
    '"0.0.0.0/0"',
    'list only the private, loopback or link-local ranges your registries are in (e.g. "10.0.0.0/8"), or the registries themselves as host:port; set docker.allowPublicInsecureRegistries: true only if you mean it',
  ],
  [
    "insecure registry as a URL",
    "docker.insecureRegistries[0]",
    '"http://r.example:5000"',
    'write only the host and optional port, e.g. "registry.example.com:5000" (no scheme, path or spaces)',
  ],
  [
    "insecure registry with user:password",
    "docker.insecureRegistries[0]",
    '"***@r.example"',
    'write only the host and optional port, e.g. "registry.example.com:5000" (no scheme, path or spaces)',
  ],
  [
    "execOpts a string",
    "docker.execOpts",
    '"native.cgroupdriver=systemd"',
    'write e.g. ["native.cgroupdriver=systemd"]',
  ],
  [
    "exec-opt without a value",
    "docker.execOpts[0]",
    '"native.cgroupdriver"',
    'write the option as key=value, e.g. "max-size=100m"',
  ],
  [
    "unknown cgroup driver",
    "docker.execOpts[0]",
    '"native.cgroupdriver=foo"',
    'write "native.cgroupdriver=systemd" or "native.cgroupdriver=cgroupfs"',
  ],
  [
    "Windows exec-opt",
    "docker.execOpts[0]",
    '"isolation=hyperv"',
    'use "native.cgroupdriver=systemd" or "native.cgroupdriver=cgroupfs", or remove it',
  ],
  [
    "exec-opt without a name",
    "docker.execOpts[0]",
    '"=systemd"',
    'write the option as key=value, e.g. "max-size=100m"',
  ],
  [
    "unknown exec-opt",
    "docker.execOpts[0]",
    '"native.umask=normal"',
    'use "native.cgroupdriver=systemd" or "native.cgroupdriver=cgroupfs", or remove it',
  ],
  ["empty logDriver", "docker.logDriver", '""', 'write e.g. "json-file"'],
  [
    "logDriver with a space",
    "docker.logDriver",
    '"json file"',
    'write a driver such as "json-file", "local" or "journald"',
  ],
  ["logOpts a string", "docker.logOpts", '"max-size=10m"', 'write e.g. { "max-size": "100m" }'],
  ["max-size not a size", "docker.logOpts.max-size", '"10x"', 'write e.g. "100m"'],
  ["max-file 0", "docker.logOpts.max-file", '"0"', 'write e.g. "3"'],
  ["max-file in words", "docker.logOpts.max-file", '"three"', 'write e.g. "3"'],
  ["compress yes", "docker.logOpts.compress", '"yes"', 'write e.g. "true"'],
  ["unknown log mode", "docker.logOpts.mode", '"fast"', 'write e.g. "non-blocking"'],
  ["max-buffer-size not a size", "docker.logOpts.max-buffer-size", '"lots"', 'write e.g. "4m"'],
  [
    "journald with max-size",
    "docker.logOpts.max-size",
    '"max-size"',
    "use one of tag, labels, labels-regex, env, env-regex, mode, max-buffer-size, cache-disabled, cache-max-size, cache-max-file, cache-compress",
  ],
  [
    "syslog with a fluentd option",
    "docker.logOpts.fluentd-address",
    '"fluentd-address"',
    "use one of syslog-address, syslog-facility, syslog-tls-ca-cert, syslog-tls-cert, syslog-tls-key, syslog-tls-skip-verify, syslog-format, tag, labels, labels-regex, env, env-regex, mode, max-buffer-size, cache-disabled, cache-max-size, cache-max-file, cache-compress",
  ],
  [
    "none with max-size",
    "docker.logOpts.max-size",
    '"max-size"',
    "remove the log options (none takes none but mode, max-buffer-size, cache-disabled, cache-max-size, cache-max-file, cache-compress)",
  ],
  [
    "local with labels",
    "docker.logOpts.labels",
    '"labels"',
    "use one of max-size, max-file, compress, mode, max-buffer-size, cache-disabled, cache-max-size, cache-max-file, cache-compress",
  ],
  [
    "awslogs with a gelf option",
    "docker.logOpts.gelf-address",
    '"gelf-address"',
    "use one of awslogs-region, awslogs-endpoint, awslogs-group, awslogs-stream, awslogs-create-group, awslogs-create-stream, awslogs-datetime-format, awslogs-multiline-pattern, awslogs-credentials-endpoint, awslogs-force-flush-interval-seconds, awslogs-max-buffered-events, awslogs-format, tag, mode, max-buffer-size, cache-disabled, cache-max-size, cache-max-file, cache-compress",
  ],
  [
    "a log option no driver has",
    "docker.logOpts.max-sise",
    '"max-sise"',
    "use one of max-size, max-file, compress, tag, labels, labels-regex, env, env-regex, syslog-address, syslog-facility, syslog-tls-ca-cert, syslog-tls-cert, syslog-tls-key, syslog-tls-skip-verify, syslog-format, fluentd-address, fluentd-async, fluentd-async-connect, fluentd-buffer-limit, fluentd-max-retries, fluentd-request-ack, fluentd-retry-wait, fluentd-sub-second-precision, fluentd-write-timeout, awslogs-region, awslogs-endpoint, awslogs-group, awslogs-stream, awslogs-create-group, awslogs-create-stream, awslogs-datetime-format, awslogs-multiline-pattern, awslogs-credentials-endpoint, awslogs-force-flush-interval-seconds, awslogs-max-buffered-events, awslogs-format, gelf-address, gelf-compression-type, gelf-compression-level, gelf-tcp-max-reconnect, gelf-tcp-reconnect-delay, splunk-token, splunk-url, splunk-source, splunk-sourcetype, splunk-index, splunk-capath, splunk-caname, splunk-insecureskipverify, splunk-format, splunk-verify-connection, splunk-gzip, splunk-gzip-level, gcp-project, gcp-log-cmd, gcp-meta-zone, gcp-meta-name, gcp-meta-id, logentries-token, line-only, mode, max-buffer-size, cache-disabled, cache-max-size, cache-max-file, cache-compress",
  ],
  [
    "a log option value an object",
    "docker.logOpts.max-size",
    "{}",
    'write the value in quotes, e.g. { "max-size": "100m" }',
  ],
  [
    "__proto__ as a log option",
    "docker.logOpts.__proto__",
    '"__proto__"',
    "remove it (no daemon.json key, registry, header or setting has this name)",
  ],
  [
    "toString as a log option",
    "docker.logOpts.toString",
    '"toString"',
    "remove it (no daemon.json key, registry, header or setting has this name)",
  ],
  ["liveRestore a string", "docker.liveRestore", '"true"', "write true or false without quotes"],
  ["debug a number", "docker.debug", "1", "write true or false without quotes"],
  ["maxConcurrentDownloads 0", "docker.maxConcurrentDownloads", "0", "write a number such as 3"],
  ["maxConcurrentDownloads a fraction", "docker.maxConcurrentDownloads", "2.5", "write a number such as 3"],
  ["maxConcurrentUploads over 1000", "docker.maxConcurrentUploads", "5000", "write a number such as 3"],
  ["maxDownloadAttempts negative", "docker.maxDownloadAttempts", "-1", "write a number such as 3"],
  ["shutdownTimeout over a day", "docker.shutdownTimeout", "100000", "write a number such as 3"],
  ["mtu under 68", "docker.mtu", "10", "write a number such as 68"],
  ["relative dataRoot", "docker.dataRoot", '"data/docker"', 'give the full path, e.g. "/data/docker"'],
  ["storageDriver with a space", "docker.storageDriver", '"overlay 2"', 'write a driver such as "overlay2"'],
  [
    "storage-opt without =",
    "docker.storageOpts[0]",
    '"overlay2.size"',
    'write the option as key=value, e.g. "max-size=100m"',
  ],
  [
    "DNS with three octets",
    "docker.dns[0]",
    '"8.8.8"',
    'write the DNS server\'s IP address, e.g. "10.0.0.2" or "fd00::53"',
  ],
  [
    "DNS with an IPv6 zone",
    "docker.dns[0]",
    '"fe80::1%eth0"',
    'write the DNS server\'s IP address, e.g. "10.0.0.2" or "fd00::53"',
  ],
  [
    "DNS with a leading zero",
    "docker.dns[0]",
    '"010.0.0.1"',
    'write the DNS server\'s IP address, e.g. "10.0.0.2" or "fd00::53"',
  ],
  [
    "DNS with a port",
    "docker.dns[0]",
    '"8.8.8.8:53"',
    'write the DNS server\'s IP address, e.g. "10.0.0.2" or "fd00::53"',
  ],
  ["DNS a string", "docker.dns", '"8.8.8.8"', 'write e.g. ["10.0.0.2"]'],
  [
    "DNS a host name",
    "docker.dns[0]",
    '"dns.example"',
    'write the DNS server\'s IP address, e.g. "10.0.0.2" or "fd00::53"',
  ],
  ["empty dns-search", "docker.dnsSearch", '[""]', 'write e.g. ["example.internal"]'],
  ["dns-opts numbers", "docker.dnsOpts", "[1]", 'write e.g. ["ndots:2"]'],
  ["extra a list", "docker.extra", "[]", 'write e.g. { "userland-proxy": false }'],
  [
    "extra registry-mirrors",
    'docker.extra["registry-mirrors"]',
    '"registry-mirrors"',
    'put Docker Hub mirrors in the policy\'s registries["docker.io"].mirrors',
  ],
  [
    "extra with a typed key",
    'docker.extra["log-driver"]',
    '"log-driver"',
    "set docker.logDriver instead of log-driver in extra",
  ],
  [
    "extra with an unknown key",
    'docker.extra["no-such-key"]',
    '"no-such-key"',
    'use the key as dockerd spells it; the closest known key is "tlskey"',
  ],
  [
    "extra with a flag's spelling",
    'docker.extra["insecure-registry"]',
    '"insecure-registry"',
    'write "insecure-registries"',
  ],
  [
    "extra toString",
    "docker.extra.toString",
    '"toString"',
    "remove it (no daemon.json key, registry, header or setting has this name)",
  ],
  [
    "extra constructor",
    "docker.extra.constructor",
    '"constructor"',
    "remove it (no daemon.json key, registry, header or setting has this name)",
  ],
  [
    "extra hasOwnProperty",
    "docker.extra.hasOwnProperty",
    '"hasOwnProperty"',
    "remove it (no daemon.json key, registry, header or setting has this name)",
  ],
  [
    "extra a function value",
    'docker.extra["userland-proxy"]',
    "a function",
    "give the value exactly as it goes in daemon.json",
  ],
  ["extra NaN", 'docker.extra["default-shm-size"]', "NaN", "give the value exactly as it goes in daemon.json"],
  ["extra Infinity", 'docker.extra["userland-proxy"]', "Infinity", "give the value exactly as it goes in daemon.json"],
  [
    "address pool base not a CIDR",
    "docker.defaultAddressPools[0].base",
    '"x"',
    'write a network such as "10.200.0.0/16"',
  ],
  ["address pool size over 32", "docker.defaultAddressPools[0].size", "40", "write a number such as 8"],
  [
    "address pool unknown field",
    "docker.defaultAddressPools[0].sise",
    '"sise"',
    "remove it, or use one of: base, size",
  ],
  ["labels a list", "docker.labels", '["a=b"]', 'write e.g. { "pool": "gpu" }'],
  ["features a string", "docker.features.buildkit", '"yes"', "write true or false without quotes"],
  ["ulimit hard a string", "docker.defaultUlimits.nofile.hard", '"x"', "write a number such as 3"],
  ["ulimit unknown field", "docker.defaultUlimits.nofile.sof", '"sof"', "remove it, or use one of: soft, hard"],
  [
    "runtimes a string",
    "runtimes",
    '"docker"',
    "choose from docker, containerd, crio, podman, k3s, rke2, buildkit, bottlerocket",
  ],
  [
    "unknown runtime",
    "runtimes",
    '"dockr"',
    "use one of docker, containerd, crio, podman, k3s, rke2, buildkit, bottlerocket",
  ],
  ["no runtimes", "runtimes", "[]", "choose from docker, containerd, crio, podman, k3s, rke2, buildkit, bottlerocket"],
  [
    "docker alone without Docker Hub mirrors",
    "runtimes",
    '["docker"]',
    'add "containerd" (or crio/podman/k3s) to runtimes, or give Docker Hub mirrors',
  ],
  [
    "unknown restartPolicy",
    "restartPolicy",
    '"always"',
    'use "never" (reload only) or "if-needed" (restart a runtime when a changed setting requires it)',
  ],
  ["runtimeOptions a list", "runtimeOptions", "[]", "write { containerd: ... } (fields: containerd, k3s)"],
  ["runtimeOptions unknown runtime", "runtimeOptions.crio", '"crio"', "remove it, or use one of: containerd, k3s"],
  [
    "runtimeOptions.containerd typo",
    "runtimeOptions.containerd.certDir",
    '"certDir"',
    "remove it, or use one of: certsDir",
  ],
  [
    "relative containerd certsDir",
    "certsDir",
    '"relative"',
    'give the folder containerd\'s config_path points at, e.g. "/etc/containerd/certs.d" (for a config_path with two folders, pass the first)',
  ],
  [
    "runtimeOptions.k3s typo",
    "runtimeOptions.k3s.defaultEndpointDisable",
    '"defaultEndpointDisable"',
    "remove it, or use one of: auth, tls, defaultEndpointDisabled",
  ],
  [
    "k3s tls typo",
    'runtimeOptions.k3s.tls["r.example"].caFil',
    '"caFil"',
    "remove it, or use one of: caFile, certFile, keyFile, insecureSkipVerify",
  ],
  [
    "k3s tls a string",
    'runtimeOptions.k3s.tls["r.example"]',
    '"/ca.pem"',
    "write { caFile: ... } (fields: caFile, certFile, keyFile, insecureSkipVerify)",
  ],
  [
    "k3s auth without a password",
    'auth["r.example"]',
    '"(fields: username)"',
    "give either username and password, or auth (base64 of user:password)",
  ],
  [
    "k3s auth password over two lines",
    'auth["r.example"]',
    '"(fields: password,username)"',
    "give either username and password, or auth (base64 of user:password)",
  ],
  ["watchdog a string", "watchdog", '"yes"', "write e.g. { intervalSeconds: 30 }"],
  [
    "watchdog unknown field",
    "watchdog.interval",
    '"interval"',
    "remove it, or use one of: intervalSeconds, suspectIntervalSeconds, maxBackoffSeconds, connectTimeoutSeconds, firstByteTimeoutSeconds, failuresToDown, successesToUp, jitter, stateDir, metricsFile",
  ],
  [
    "watchdog interval 0",
    "watchdog.intervalSeconds",
    "0",
    "give a number in that range, or leave it out for the default 30",
  ],
  ["watchdog relative stateDir", "watchdog.stateDir", '"state"', 'give e.g. "/var/lib/registry-mirrors/watchdog"'],
];

describe("bad input through the API (renderNodeConfig): field, value (redacted when secret), fix", () => {
  const inputs = new Map(API_INPUTS);
  it("the table covers every input exactly once", () => {
    expect(API_TABLE.map(([name]) => name).sort()).toEqual([...inputs.keys()].sort());
  });
  for (const [name, field, value, fix] of API_TABLE) {
    it(name, () => {
      const input = inputs.get(name);
      const err = errorOf(() => renderNodeConfig(input as never));
      expect(err.field).toBe(field);
      expect(err.message).toContain(`${field}: `);
      expect(err.message).toContain(`(got ${value}). Fix: ${fix}`);
      expect(err.fix).toBe(fix);
      for (const secret of secretsIn(input)) {
        expect(err.message).not.toContain(secret);
        expect(JSON.stringify(err.value)).not.toContain(secret);
      }
      if (value === REDACTED) expect(err.value).toBe(REDACTED);
    });
  }
});

describe("the same inputs through a JSON policy file (registry-mirrors validate --policy)", () => {
  // The CLI takes no watchdog; NaN, Infinity, functions and prototypes do not survive JSON.
  const notJson = ["extra a function value", "extra NaN", "extra Infinity", "a custom prototype in the policy"];
  const plain = API_INPUTS.filter(([name]) => !notJson.includes(name) && !name.startsWith("watchdog"));
  for (const [name, input] of plain) {
    it(name, async () => {
      const file = join(dir, `${name.replace(/\W+/g, "-")}.json`);
      writeFileSync(file, JSON.stringify(input));
      const res = await cli(["validate", "--policy", file]);
      const row = API_TABLE.find(([n]) => n === name);
      expect(res.code).toBe(1);
      expect(res.err).toMatch(/^registry-mirrors: /);
      expect(res.err).toContain(`${row?.[1]}: `);
      // The CLI may word the fix for its flags (--allow-public-insecure-registries): a fix is there.
      expect(res.err).toContain(". Fix: ");
      for (const secret of secretsIn(input)) expect(res.err).not.toContain(secret);
    });
  }
});

// [name, file name, content, field, value shown, fix]
const FILE_TABLE: Array<[string, string, string, string, string, string]> = [
  ["JSON syntax error", "a.json", '{"mirrors": ["https://m.example"]', "--policy", "a.json", "fix the syntax"],
  ["JSON trailing comma", "b.json", '{"mirrors": ["https://m.example"],}', "--policy", "b.json", "fix the syntax"],
  [
    "JSON duplicate top-level key",
    "c.json",
    '{"mirrors": ["https://a.example"], "mirrors": ["https://b.example"]}',
    "--policy",
    "c.json",
    "fix the syntax",
  ],
  [
    "JSON duplicate nested key",
    "d.json",
    '{"mirrors": ["https://m.example"], "docker": {"debug": true, "debug": false}}',
    "--policy",
    "d.json",
    "fix the syntax",
  ],
  [
    "YAML duplicate key",
    "e.yaml",
    "mirrors: [https://a.example]\nmirrors: [https://b.example]\n",
    "--policy",
    "e.yaml",
    "fix the syntax",
  ],
  [
    "YAML bad indentation",
    "f.yaml",
    "policy:\n  registries:\n docker.io: {}\n",
    "--policy",
    "f.yaml",
    "fix the syntax",
  ],
  ["a list", "g.json", '["https://m.example"]', "--policy", "g.json", "write e.g."],
  ["a string", "h.yaml", "https://m.example\n", "--policy", "h.yaml", "write e.g."],
  ["empty YAML", "i.yaml", "", "--policy", "i.yaml", "write e.g."],
  [
    "unknown top-level field",
    "j.json",
    '{"mirror": ["https://m.example"]}',
    "--policy.mirror",
    "mirror",
    "remove it, or use one of",
  ],
  [
    "__proto__ at the top",
    "k.json",
    '{"mirrors": ["https://m.example"], "__proto__": {"x": 1}}',
    "--policy.__proto__",
    "__proto__",
    "remove it",
  ],
  [
    "a credential URL in a YAML syntax error",
    "l.yaml",
    "mirrors: [https://u:file-secret-1@m.example\n",
    "--policy",
    "l.yaml",
    "fix the syntax",
  ],
  [
    "a credential URL in a JSON policy",
    "m.json",
    '{"mirrors": ["https://u:file-secret-2@m.example"]}',
    'policy.registries["docker.io"].mirrors[0]',
    "https://***@m.example",
    "remove the user:password part",
  ],
  [
    "a header token in a YAML policy",
    "n.yaml",
    "policy:\n  registries:\n    docker.io:\n      mirrors:\n        - url: https://m.example\n          headers: [Bearer file-secret-3]\n",
    'policy.registries["docker.io"].mirrors[0].headers',
    REDACTED,
    "write {",
  ],
  [
    "JSON NaN",
    "o.json",
    '{"mirrors": ["https://m.example"], "docker": {"mtu": NaN}}',
    "--policy",
    "o.json",
    "fix the syntax",
  ],
];

describe("bad policy files: refused with the field, the value and the fix, nothing written", () => {
  for (const [name, file, content, field, value, fix] of FILE_TABLE) {
    it(name, async () => {
      const path = join(dir, file);
      writeFileSync(path, content);
      const out = join(dir, `out-${file}`);
      const res = await cli(["render", "--policy", path, "--out", out]);
      expect(res.code).toBe(field === "--policy" ? 1 : 1);
      const line = res.err.split("\n").find((l) => l.startsWith("registry-mirrors: ")) ?? "";
      expect(line.startsWith(`registry-mirrors: ${field}`)).toBe(true);
      expect(line).toContain(value);
      expect(line).toContain(`Fix: ${fix}`);
      for (const secret of secretsIn(content)) expect(res.err).not.toContain(secret);
      expect(() => readdirSync(out)).toThrow();
    });
  }
});

const afile = join(dir, "a-file");
writeFileSync(afile, "x");
// [name, args, exit code, field (start of the message after "registry-mirrors: "), value shown, fix or reason]
const CLI_TABLE: Array<[string, string[], number, string, string, string]> = [
  [
    "--mirror without scheme",
    ["validate", "--mirror", "m.example"],
    1,
    'policy.registries["docker.io"].mirrors[0]',
    '"m.example"',
    "Fix: write the scheme out",
  ],
  [
    "--mirror with user:password",
    ["validate", "--mirror", "https://u:cli-secret-1@m.example"],
    1,
    'policy.registries["docker.io"].mirrors[0]',
    "https://***@m.example",
    "Fix: remove the user:password part",
  ],
  [
    "--registry-mirror without =",
    ["validate", "--registry-mirror", "ghcr.io"],
    1,
    "--registry-mirror",
    '"ghcr.io"',
    "Fix: write e.g. --registry-mirror",
  ],
  [
    "--registry-mirror without a registry",
    ["validate", "--registry-mirror", "=https://m.example"],
    1,
    "--registry-mirror",
    '"=https://m.example"',
    "Fix: write e.g.",
  ],
  [
    "--registry-mirror with a token",
    ["validate", "--registry-mirror", "ghcr.io=https://t:cli-secret-2@m.example"],
    1,
    'policy.registries["ghcr.io"].mirrors[0]',
    "https://***@m.example",
    "Fix: remove",
  ],
  [
    "--runtime unknown",
    ["validate", "--mirror", "https://m.example", "--runtime", "dockr"],
    1,
    "--runtime",
    '"dockr"',
    "Fix: use one of docker",
  ],
  [
    "--restart-policy unknown",
    ["validate", "--mirror", "https://m.example", "--restart-policy", "always"],
    1,
    "restartPolicy",
    '"always"',
    'Fix: use "never"',
  ],
  [
    "--insecure-registry public",
    ["validate", "--mirror", "https://m.example", "--insecure-registry", "0.0.0.0/0"],
    1,
    "--insecure-registry",
    '"0.0.0.0/0"',
    "Fix: list only the private",
  ],
  [
    "--insecure-registry bad CIDR",
    ["validate", "--mirror", "https://m.example", "--insecure-registry", "10.0.0.0/33"],
    1,
    "docker.insecureRegistries[0]",
    '"10.0.0.0/33"',
    "Fix: write a network",
  ],
  [
    "--exec-opt unknown",
    ["validate", "--mirror", "https://m.example", "--exec-opt", "foo=bar"],
    1,
    "docker.execOpts[0]",
    '"foo=bar"',
    'Fix: use "native.cgroupdriver=systemd"',
  ],
  [
    "--log-opt without =",
    ["validate", "--mirror", "https://m.example", "--log-opt", "max-size"],
    1,
    "--log-opt",
    '"max-size"',
    "Fix: write the option as key=value",
  ],
  [
    "--log-opt bad size",
    ["validate", "--mirror", "https://m.example", "--log-opt", "max-size=huge"],
    1,
    "docker.logOpts.max-size",
    '"huge"',
    'Fix: write e.g. "100m"',
  ],
  [
    "--log-opt for another driver",
    ["validate", "--mirror", "https://m.example", "--log-driver", "journald", "--log-opt", "max-file=3"],
    1,
    "docker.logOpts.max-file",
    '"max-file"',
    "Fix: use one of tag",
  ],
  [
    "--max-concurrent-downloads in words",
    ["validate", "--mirror", "https://m.example", "--max-concurrent-downloads", "many"],
    1,
    "--max-concurrent-downloads",
    '"many"',
    "Fix: write e.g.",
  ],
  [
    "--cloud unknown",
    ["validate", "--cloud", "gcp", "--region", "x"],
    1,
    "cloud",
    '"gcp"',
    "Fix: use one of: alicloud, aws",
  ],
  [
    "--region unknown",
    ["validate", "--cloud", "aws", "--region", "mars-1"],
    1,
    "region",
    '"mars-1"',
    "Fix: did you mean",
  ],
  [
    "--network unknown",
    ["validate", "--cloud", "aws", "--region", "us-west-2", "--network", "lan"],
    1,
    "network",
    '"lan"',
    'Fix: use "vpc"',
  ],
  [
    "--account-id short",
    ["validate", "--cloud", "aws", "--region", "us-west-2", "--account-id", "123"],
    1,
    "awsAccountId",
    '"123"',
    "Fix: give the account id",
  ],
  [
    "--no-upstream a URL",
    ["validate", "--mirror", "https://m.example", "--no-upstream", "https://x.example"],
    1,
    "--no-upstream",
    '"https://x.example"',
    "Fix: add --registry-mirror",
  ],
  [
    "--accelerator-id with a space",
    ["validate", "--cloud", "alicloud", "--region", "cn-hangzhou", "--accelerator-id", "bad id"],
    1,
    "alicloudAcceleratorId",
    '"bad id"',
    "Fix: copy only the id part",
  ],
  [
    "--mirror hex IPv4",
    ["validate", "--mirror", "https://0x7f.0.0.1"],
    1,
    'policy.registries["docker.io"].mirrors[0]',
    '"0x7f.0.0.1"',
    "Fix: write only the host",
  ],
  [
    "--mirror integer IPv4",
    ["validate", "--mirror", "http://2130706433:5000"],
    1,
    'policy.registries["docker.io"].mirrors[0]',
    '"2130706433:5000"',
    "Fix: write only the host",
  ],
  ["--cloud without --region", ["validate", "--cloud", "aws"], 2, "--cloud needs --region", "", ""],
  [
    "--policy missing",
    ["validate", "--policy", join(dir, "missing.json")],
    2,
    "--policy: cannot read",
    "missing.json",
    "",
  ],
  ["unknown flag", ["validate", "--bogus-flag"], 2, "Unknown option '--bogus-flag'", "", ""],
  [
    "--out empty",
    ["render", "--mirror", "https://m.example", "--out", ""],
    2,
    "--out: an empty folder name",
    "",
    "Fix: give a folder",
  ],
  [
    "--out under /proc",
    ["render", "--mirror", "https://m.example", "--out", "/proc/registry-mirrors-out"],
    2,
    "--out: /proc/registry-mirrors-out is on a special filesystem",
    "",
    "Fix: give a folder on a disk",
  ],
  [
    "--out under /sys",
    ["render", "--mirror", "https://m.example", "--out", "/sys/kernel/registry-mirrors-out"],
    2,
    "--out: /sys/kernel/registry-mirrors-out is on a special filesystem",
    "",
    "Fix: give a folder on a disk",
  ],
  [
    "--out under /dev",
    ["render", "--mirror", "https://m.example", "--out", "/dev/registry-mirrors-out"],
    2,
    "--out: /dev/registry-mirrors-out is on a special filesystem",
    "",
    "Fix: give a folder on a disk",
  ],
  [
    "--out an existing file",
    ["render", "--mirror", "https://m.example", "--out", afile],
    2,
    `--out: ${afile} exists and is not a folder`,
    "",
    "Fix: give a folder",
  ],
  [
    "--out under a file",
    ["render", "--mirror", "https://m.example", "--out", join(afile, "sub")],
    2,
    `--out: cannot write ${join(afile, "sub")}`,
    "",
    "Fix: choose a folder you can write",
  ],
  [
    "probe --mirror ftp",
    ["probe", "--mirror", "ftp://m.example"],
    1,
    "--mirror[0]",
    '"ftp://m.example"',
    "Fix: use https://",
  ],
  ["regions --cloud unknown", ["regions", "--cloud", "gcp"], 1, "cloud", '"gcp"', "Fix: use one of"],
  ["unknown command", ["bogus-command"], 2, 'unknown command "bogus-command"', "", ""],
];

describe("bad command lines: exit code, the field, the value and the fix; no stack trace, nothing written", () => {
  for (const [name, args, code, field, value, fix] of CLI_TABLE) {
    it(name, async () => {
      const done = await cli(args);
      expect(done.code).toBe(code);
      const line = done.err.split("\n").find((l) => l.startsWith("registry-mirrors: ")) ?? "";
      expect(line.startsWith(`registry-mirrors: ${field}`)).toBe(true);
      expect(line).toContain(value);
      expect(line).toContain(fix);
      expect(done.err).not.toMatch(/\n\s+at /);
      for (const secret of secretsIn(args)) expect(done.err + done.out).not.toContain(secret);
      expect(done.out).not.toContain("wrote ");
    });
  }
});

it("the suite holds at least 150 distinct invalid inputs", () => {
  expect(API_TABLE.length + FILE_TABLE.length + CLI_TABLE.length).toBeGreaterThanOrEqual(150);
});
