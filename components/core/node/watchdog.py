#!/usr/bin/env python3
"""registry-mirrors node watchdog: takes mirrors that stall or vanish out of the runtimes' files, and puts them back.

Usage:  python3 watchdog.py --plan PLAN.json [--root NODE_ROOT] [--once]
  --plan  the plan rendered by registry-mirrors (components/core/watch-plan.ts): endpoints, files, timings.
  --root  prefix of every node path (default /; the DaemonSet passes the host's root mount).
  --once  one round: probe every endpoint once, write, exit. Hysteresis counts are kept in the state folder, so
          K runs in a row with a failing endpoint take it out.
Env:    RUNTIME_CTL  the systemctl to use (default "systemctl"; split on whitespace, as sh would):
                     `$RUNTIME_CTL is-active --quiet UNIT`, `$RUNTIME_CTL reload UNIT` (docker, crio). Never a restart.
Exit:   0 ran (a --once round wrote everything it had to, or nothing needed writing; or the long-running mode got
          SIGTERM, SIGINT or SIGHUP, which stop it within a second, after saving its state);
        1 --once: a file, the status, the metrics or a reload failed; 2 bad usage or unreadable plan;
        3 another watchdog holds the state folder (--once; the long-running mode waits for it instead).
Python 3.6+ standard library only (Amazon Linux 2023 ships 3.9).

Reads:  the plan; each node file of the plan; ROOT/<plan stateDir>/state.json (hysteresis and what it last wrote).
Writes: (always atomically: temp file in the same folder, fsync, rename; mode and owner of the file kept)
  - containerd hosts.toml without the [host."URL"] tables of down endpoints (containerd reads it on every pull). An
    ECR registry's file is written as hosts.toml.registry-mirrors.template, then the node's ECR token refresher
    (/etc/containerd/registry-mirrors/ecr-token-refresh --render-only) renders hosts.toml = template + token, so
    hosts.toml keeps one writer (the refresher) and the template two that never overlap (the apply script and this
    watchdog, under the apply script's folder lock).
  - the CRI-O/podman drop-in without the [[registry.mirror]] entries of down endpoints, then `reload crio` if active.
  - /etc/docker/daemon.json: only "registry-mirrors" changes (every other key keeps its value; the file is written
    as the apply script writes it: sorted keys, 2-space indent), then `reload docker` (SIGHUP) if docker is active.
  - k3s/RKE2 registries.yaml and buildkitd.toml are never rewritten (their runtimes read them only at start-up):
    a log line says which of them lists a down endpoint.
  The upstream (containerd `server`, the registries.conf `location`) is never removed; with every mirror down the
  node pulls from it. When mirrors come back the file is the desired one again, in the policy's order.
  An apply run writes the desired files back; while an endpoint is down the watchdog sees that within a second (and
  once the run let go of its lock) and writes the effective file again.
  A file is "ours" when it equals what the apply script wrote (the plan's content) or what this watchdog wrote last
  (its sha256 is in state.json); daemon.json also when its managed keys are as rendered and its mirrors are the
  desired or the last written list. Any other file was changed by hand: it is left alone, said once per content.
  Each write takes the apply script's lock (flock FOLDER/.registry-mirrors.lock, or its .lock.d folder): while an
  apply runs, the write waits for the next round.
  - ROOT/<stateDir>/state.json and status.json (each endpoint: up/down, since, last latency, last error; each file:
    effective/desired/left-alone/missing, and which endpoints it is without).
  - ROOT/<plan metricsFile> (node_exporter textfile collector): registry_mirrors_endpoint_up,
    registry_mirrors_probe_latency_seconds, registry_mirrors_failovers_total, registry_mirrors_config_info{checksum},
    registry_mirrors_file_left_alone, registry_mirrors_last_round_timestamp_seconds.
  - stdout: one line per event (endpoint, state, reason; file written, left alone, reloaded, reported).

Probing: `GET <probeUrl>` (the registry API root, /v2/), 200 or 401 = up, anything else (an error, another status,
no status line in time) = a failure. Connect (TCP + TLS) within connectTimeoutSeconds, the first byte of the answer
within firstByteTimeoutSeconds; one thread per probe, so a stalled endpoint delays no other, and a probe still hanging
after both timeouts (+1 s) counts as failed (at most 3 hanging probes per endpoint). TLS is verified (with the
endpoint's CA and client certificate, under ROOT) unless the endpoint is insecure. Like containerd and dockerd, it
goes through HTTPS_PROXY / HTTP_PROXY except for NO_PROXY hosts (domains, host:port, CIDR, *) and loopback: give
the watchdog the proxy environment of the runtimes, or it takes out mirrors it cannot reach directly.

Schedule and hysteresis (the plan's timings; defaults in brackets): a healthy endpoint is probed every intervalSeconds
[30]. After a failure it is probed every suspectIntervalSeconds [2] until failuresToDown [K=2] failures in a row take
it out, or a success ends the suspicion. A down endpoint is probed after intervalSeconds, then twice that, ... up to
maxBackoffSeconds [240] (not while every endpoint is down: that is more likely the node's own network, so they are
probed every interval and come back with it); after a success every suspectIntervalSeconds until successesToUp [M=3]
successes put it back.
Every wait is scaled by a random factor in [1 - jitter, 1 + jitter] [0.2]; the first probe after start comes at a
random point of the first interval (a fleet that restarts together does not probe together).
Bounds with the defaults: an endpoint that starts refusing is out within 30 x 1.2 + 2 x 1.2 = 38.4 s (plus 2 x 8 s
when it stalls instead: 54.4 s); a down endpoint that answers again is back within 240 x 1.2 + 2 x 2.4 + 3 x 8 = 317 s.
Cost for a mirror at fleet scale: one probe per node per 30 s while healthy, 333 requests/s from 10,000 nodes (each a
TCP (+TLS) connection and a tiny GET /v2/); no state probes more than max(K, M) = 3 times per interval x (1 - jitter),
so 10,000 nodes never send more than 10,000 x 3 / 24 s = 1,250 requests/s on average. A mirror that is down for every
node (while their other endpoints are up) gets at most one probe per node per 192-288 s (35-52 requests/s from 10,000
nodes) once backoff is at its maximum; while all of a node's endpoints are down it probes them at the healthy rate.
Probing fast happens only while a node suspects a failure or confirms a recovery.
"""

import base64
import errno
import fcntl
import hashlib
import http.client
import ipaddress
import json
import os
import queue
import random
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
from urllib.parse import unquote, urlsplit

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_BUSY = 3
MAX_HANGING = 3
UP_STATUSES = (200, 401)
TIMING_KEYS = (
    "intervalSeconds",
    "suspectIntervalSeconds",
    "maxBackoffSeconds",
    "connectTimeoutSeconds",
    "firstByteTimeoutSeconds",
    "failuresToDown",
    "successesToUp",
    "jitter",
)


# ---------------------------------------------------------------------------------------------------------------------
# Pure parts: no clock, no network, no files. Tested by test/node/test_watchdog.py.


def log_line(event, **fields):
    """One event as one logfmt line: `watchdog: event=NAME key=value ...` (values with spaces quoted)."""
    parts = ["event=" + event]
    for key in sorted(fields):
        value = fields[key]
        if value is None:
            continue
        text = str(value)
        if text == "" or any(c in text for c in ' "=\\\n\t'):
            text = '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", " ") + '"'
        parts.append("%s=%s" % (key, text))
    return "watchdog: " + " ".join(parts)


def sha256(data):
    if isinstance(data, str):
        data = data.encode("utf-8")
    return hashlib.sha256(data).hexdigest()


class PlanError(Exception):
    pass


def load_plan(text):
    """Parses and checks the plan (what watch-plan.ts renders); raises PlanError naming the problem."""
    try:
        plan = json.loads(text)
    except ValueError as e:
        raise PlanError("the plan is not JSON (%s)" % e)
    if not isinstance(plan, dict) or plan.get("version") != 1:
        raise PlanError("the plan is not a version 1 watchdog plan; render it again with this registry-mirrors")
    timings = plan.get("timings")
    if not isinstance(timings, dict):
        raise PlanError("the plan has no timings")
    for key in TIMING_KEYS:
        value = timings.get(key)
        if not isinstance(value, (int, float)) or isinstance(value, bool) or value < 0:
            raise PlanError("timings.%s must be a number >= 0 (got %r)" % (key, value))
    for key in ("failuresToDown", "successesToUp", "intervalSeconds"):
        if timings[key] < 1:
            raise PlanError("timings.%s must be at least 1 (got %r)" % (key, timings[key]))
    if timings["jitter"] >= 1:
        raise PlanError("timings.jitter must be below 1 (got %r)" % timings["jitter"])
    urls = set()
    for i, ep in enumerate(plan.get("endpoints") or []):
        if not isinstance(ep, dict) or not isinstance(ep.get("url"), str) or not isinstance(ep.get("probeUrl"), str):
            raise PlanError("endpoints[%d] needs url and probeUrl" % i)
        if not ep["probeUrl"].startswith(("http://", "https://")):
            raise PlanError("endpoints[%d].probeUrl is not an http(s) URL: %r" % (i, ep["probeUrl"]))
        urls.add(ep["url"])
    for i, f in enumerate(plan.get("files") or []):
        if not isinstance(f, dict) or not isinstance(f.get("path"), str) or not f["path"].startswith("/"):
            raise PlanError("files[%d] needs an absolute path" % i)
        if f.get("action") not in ("rewrite", "report"):
            raise PlanError("files[%d].action must be rewrite or report (got %r)" % (i, f.get("action")))
        for url in f.get("endpoints") or []:
            if url not in urls:
                raise PlanError("files[%d] (%s) lists %s, which is not among the endpoints" % (i, f["path"], url))
        if f["action"] == "rewrite":
            if f.get("format") == "docker-daemon-json":
                if not isinstance(f.get("mirrors"), list) or not isinstance(f.get("content"), str):
                    raise PlanError("files[%d] (%s) needs mirrors and content" % (i, f["path"]))
            elif f.get("format") in ("containerd-hosts", "registries-conf"):
                if not isinstance(f.get("prefix"), str) or not isinstance(f.get("chunks"), list):
                    raise PlanError("files[%d] (%s) needs prefix and chunks" % (i, f["path"]))
                content = assemble(f["prefix"], f["chunks"], set())
                if f.setdefault("content", content) != content:
                    raise PlanError("files[%d] (%s): its chunks do not make up its content" % (i, f["path"]))
            else:
                raise PlanError("files[%d] has an unknown format %r" % (i, f.get("format")))
            if not isinstance(f.get("lock"), str) or not f["lock"].startswith("/"):
                raise PlanError("files[%d] (%s) needs its lock folder" % (i, f["path"]))
    plan.setdefault("endpoints", [])
    plan.setdefault("files", [])
    return plan


def assemble(prefix, chunks, down):
    """A TOML file of the plan without the tables of the `down` endpoints (watch-plan.ts assembleChunks)."""
    kept = []
    for chunk in chunks:
        endpoint = chunk.get("endpoint")
        if endpoint is not None and endpoint in down:
            continue
        all_down = chunk.get("whenAllDown")
        if all_down is not None and not all(u in down for u in all_down):
            continue
        kept.append(chunk["text"])
    return prefix + "\n\n".join(kept) + "\n" if kept else prefix


def dump_daemon_json(doc):
    """daemon.json as the apply script writes it."""
    return json.dumps(doc, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def same_json(a, b):
    return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


def daemon_json_effective(current_text, mirrors):
    """The node's daemon.json with `registry-mirrors` set to `mirrors`, every other key as it is; None if unreadable."""
    try:
        doc = json.loads(current_text)
    except ValueError:
        return None
    if not isinstance(doc, dict):
        return None
    doc["registry-mirrors"] = list(mirrors)
    return dump_daemon_json(doc)


def daemon_json_ours(current_text, desired_content, last_mirrors, last_sha):
    """True when daemon.json is as the apply script or this watchdog left it (see the module doc)."""
    if last_sha is not None and sha256(current_text) == last_sha:
        return True
    try:
        doc = json.loads(current_text)
        desired = json.loads(desired_content)
    except ValueError:
        return False
    if not isinstance(doc, dict) or not isinstance(desired, dict):
        return False
    for key, value in desired.items():
        if key != "registry-mirrors" and (key not in doc or not same_json(doc[key], value)):
            return False
    mirrors = doc.get("registry-mirrors")
    if same_json(mirrors, desired.get("registry-mirrors")):
        return True
    return last_mirrors is not None and same_json(mirrors, last_mirrors)


def effective_content(spec, down, current_text):
    """The content the watchdog wants for a rewrite file, given the down endpoints and (for daemon.json) the node's file."""
    if spec["format"] == "docker-daemon-json":
        return daemon_json_effective(current_text, [m for m in spec["mirrors"] if m not in down])
    return assemble(spec["prefix"], spec["chunks"], down)


class Tracker:
    """Up/down state of one endpoint with hysteresis and its probe schedule (times are plain numbers)."""

    FIELDS = ("state", "since", "failures", "successes", "backoff", "failovers", "latency", "error", "probed")

    def __init__(self, now, saved=None):
        self.state = "up"
        self.since = now
        self.failures = 0
        self.successes = 0
        self.backoff = 0
        self.failovers = 0
        self.latency = None
        self.error = None
        self.probed = None
        if isinstance(saved, dict):
            for key in self.FIELDS:
                if key in saved:
                    setattr(self, key, saved[key])
            if self.state not in ("up", "down"):
                self.state = "up"

    def to_json(self):
        return dict((key, getattr(self, key)) for key in self.FIELDS)

    def record(self, ok, latency, error, now, timings):
        """Counts one probe; returns "up" or "down" when the state changed, else None."""
        self.probed = now
        self.latency = latency
        if ok:
            self.error = None
            self.failures = 0
            self.successes += 1
            if self.state == "down" and self.successes >= timings["successesToUp"]:
                self.state, self.since, self.backoff = "up", now, 0
                return "up"
            return None
        self.error = error
        self.successes = 0
        self.failures += 1
        if self.state == "up" and self.failures >= timings["failuresToDown"]:
            self.state, self.since, self.backoff = "down", now, 0
            self.failovers += 1
            return "down"
        return None

    def next_wait(self, timings, rnd, all_down=False):
        """Seconds until the next probe; `rnd` in [0, 1) draws the jitter. A down endpoint's wait doubles each time,
        except while every endpoint is down (`all_down`: more likely the node's network than every mirror at once,
        so the mirrors come back as soon as it does)."""
        if self.state == "up":
            base = timings["intervalSeconds"] if self.failures == 0 else timings["suspectIntervalSeconds"]
        elif self.successes > 0:
            base = timings["suspectIntervalSeconds"]
        elif all_down:
            base = timings["intervalSeconds"]
        else:
            base = min(timings["maxBackoffSeconds"], timings["intervalSeconds"] * (2 ** min(self.backoff, 30)))
            self.backoff += 1
        return base * (1 + timings["jitter"] * (2 * rnd - 1))


def prom_label(value):
    return str(value).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def prom_number(value):
    if value is None:
        return "NaN"
    return repr(float(value)) if isinstance(value, float) else str(value)


def render_metrics(plan, trackers, files_status, config_checksum, now):
    """The Prometheus text-format metrics of one round."""
    lines = []

    def family(name, kind, text, samples):
        lines.append("# HELP %s %s" % (name, text))
        lines.append("# TYPE %s %s" % (name, kind))
        for labels, value in samples:
            label_text = ",".join('%s="%s"' % (k, prom_label(v)) for k, v in labels)
            lines.append("%s{%s} %s" % (name, label_text, prom_number(value)) if labels else "%s %s" % (name, prom_number(value)))

    urls = [ep["url"] for ep in plan["endpoints"]]
    family(
        "registry_mirrors_endpoint_up",
        "gauge",
        "1 while the mirror endpoint is in the effective configuration, 0 while the watchdog has taken it out.",
        [([("endpoint", u)], 1 if trackers[u].state == "up" else 0) for u in urls],
    )
    family(
        "registry_mirrors_probe_latency_seconds",
        "gauge",
        "Seconds the last GET /v2/ probe of the endpoint took (NaN before the first or after a failed probe).",
        [([("endpoint", u)], trackers[u].latency) for u in urls],
    )
    family(
        "registry_mirrors_failovers_total",
        "counter",
        "Times the watchdog took the endpoint out of the effective configuration.",
        [([("endpoint", u)], trackers[u].failovers) for u in urls],
    )
    family(
        "registry_mirrors_config_info",
        "gauge",
        "sha256 over the node files the watchdog manages, as they are now (label checksum).",
        [([("checksum", config_checksum)], 1)],
    )
    family(
        "registry_mirrors_file_left_alone",
        "gauge",
        "1 when the file was changed by hand since the last apply, so the watchdog does not touch it.",
        [([("path", p)], 1 if files_status[p]["status"] == "left-alone" else 0) for p in sorted(files_status)],
    )
    family(
        "registry_mirrors_last_round_timestamp_seconds",
        "gauge",
        "Unix time of the watchdog's last round.",
        [([], round(now, 3))],
    )
    return "\n".join(lines) + "\n"


def iso(ts):
    if ts is None:
        return None
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


def render_status(plan, trackers, files_status, config_checksum, now):
    endpoints = {}
    for ep in plan["endpoints"]:
        t = trackers[ep["url"]]
        endpoints[ep["url"]] = {
            "state": t.state,
            "since": iso(t.since),
            "lastProbe": iso(t.probed),
            "lastLatencySeconds": t.latency,
            "lastError": t.error,
            "failuresInARow": t.failures,
            "successesInARow": t.successes,
            "failovers": t.failovers,
        }
    doc = {"updated": iso(now), "configChecksum": config_checksum, "endpoints": endpoints, "files": files_status}
    return json.dumps(doc, indent=2, sort_keys=True) + "\n"


# ---------------------------------------------------------------------------------------------------------------------
# The node: probes, files, locks, reloads.


def node_path(root, path):
    return root.rstrip("/") + path


def split_host(hostport, scheme):
    """(host, port) of `host[:port]` or `[v6]:port`."""
    default = 443 if scheme == "https" else 80
    if hostport.startswith("["):
        host, _, rest = hostport[1:].partition("]")
        return host, int(rest[1:]) if rest.startswith(":") else default
    host, sep, port = hostport.rpartition(":")
    return (host, int(port)) if sep else (hostport, default)


def proxy_for(url, environ):
    """The proxy the runtimes (Go's net/http) use for `url` from HTTPS_PROXY/HTTP_PROXY/NO_PROXY (either case):
    (host, port, Proxy-Authorization value or None), or None for a direct connection. Loopback is never proxied."""
    scheme, rest = url.split("://", 1)
    host, port = split_host(rest.split("/", 1)[0], scheme)
    host = host.lower()
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        ip = None
    if host == "localhost" or (ip is not None and ip.is_loopback):
        return None
    name = "https_proxy" if scheme == "https" else "http_proxy"
    value = environ.get(name.upper()) or environ.get(name)
    if not value:
        return None
    for entry in (environ.get("NO_PROXY") or environ.get("no_proxy") or "").split(","):
        entry = entry.strip().lower()
        if not entry:
            continue
        if entry == "*":
            return None
        if "/" in entry and ip is not None:
            try:
                if ip in ipaddress.ip_network(entry, strict=False):
                    return None
            except ValueError:
                pass
            continue
        entry_host, entry_port = entry, None
        if not entry.startswith("[") and entry.count(":") == 1:
            entry_host, _, p = entry.partition(":")
            entry_port = int(p) if p.isdigit() else None
        entry_host = entry_host.strip("[]")
        if entry_port is not None and entry_port != port:
            continue
        bare = entry_host.lstrip("*").lstrip(".")
        if host == bare or host.endswith("." + bare):
            return None
    proxy = urlsplit(value if "://" in value else "http://" + value)
    auth = None
    if proxy.username is not None:
        pair = "%s:%s" % (unquote(proxy.username), unquote(proxy.password or ""))
        auth = "Basic " + base64.b64encode(pair.encode("utf-8")).decode("ascii")
    return proxy.hostname, proxy.port or (443 if proxy.scheme == "https" else 80), auth


def probe(endpoint, timings, root, environ=None):
    """One GET of the endpoint's probeUrl (through the proxy the runtimes would use): (ok, latency or None, error)."""
    url = endpoint["probeUrl"]
    scheme, rest = url.split("://", 1)
    hostport, _, path = rest.partition("/")
    path = "/" + path
    connect_t = timings["connectTimeoutSeconds"]
    proxy = proxy_for(url, os.environ if environ is None else environ)
    start = time.monotonic()
    conn = None
    stage = "connect"
    headers = {"User-Agent": "registry-mirrors-watchdog", "Connection": "close"}
    target = path
    try:
        if scheme == "https":
            ctx = ssl.create_default_context()
            if endpoint.get("caFile"):
                ctx.load_verify_locations(cafile=node_path(root, endpoint["caFile"]))
            if endpoint.get("insecure"):
                ctx.check_hostname = False
                ctx.verify_mode = ssl.CERT_NONE
            if endpoint.get("clientCertFile"):
                key = endpoint.get("clientKeyFile")
                ctx.load_cert_chain(
                    node_path(root, endpoint["clientCertFile"]), node_path(root, key) if key else None
                )
            if proxy:
                conn = http.client.HTTPSConnection(proxy[0], proxy[1], timeout=connect_t, context=ctx)
                host, port = split_host(hostport, scheme)
                conn.set_tunnel(host, port, headers={"Proxy-Authorization": proxy[2]} if proxy[2] else None)
            else:
                conn = http.client.HTTPSConnection(hostport, timeout=connect_t, context=ctx)
        elif proxy:
            conn = http.client.HTTPConnection(proxy[0], proxy[1], timeout=connect_t)
            target = url
            if proxy[2]:
                headers["Proxy-Authorization"] = proxy[2]
        else:
            conn = http.client.HTTPConnection(hostport, timeout=connect_t)
        conn.connect()
        stage = "answer"
        conn.sock.settimeout(timings["firstByteTimeoutSeconds"])
        conn.request("GET", target, headers=headers)
        resp = conn.getresponse()
        latency = round(time.monotonic() - start, 4)
        status = resp.status
        if status in UP_STATUSES:
            return True, latency, None
        return False, latency, "HTTP %d from GET %s" % (status, path)
    except socket.timeout:
        limit = connect_t if stage == "connect" else timings["firstByteTimeoutSeconds"]
        what = "no connection" if stage == "connect" else "no answer"
        return False, None, "%s within %gs" % (what, limit)
    except ssl.SSLError as e:
        return False, None, "TLS: %s" % (getattr(e, "reason", None) or e)
    except OSError as e:
        reason = e.strerror or str(e) or e.__class__.__name__
        return False, None, "%s: %s" % (stage, reason)
    except (http.client.HTTPException, ValueError) as e:
        return False, None, "%s: %s" % (stage, str(e) or e.__class__.__name__)
    finally:
        if conn is not None:
            try:
                conn.close()
            except Exception:
                pass


def write_atomic(path, data, mode=None, durable=True):
    """Replaces `path` with `data` (bytes or str): temp file beside it, fsync, rename; keeps mode and owner.
    `durable=False` skips the fsyncs (status and metrics: rewritten every round, nothing depends on them)."""
    if isinstance(data, str):
        data = data.encode("utf-8")
    folder = os.path.dirname(path)
    try:
        st = os.stat(path)
    except FileNotFoundError:
        st = None
        os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix="." + os.path.basename(path) + ".registry-mirrors.")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            if st is not None:
                os.fchmod(f.fileno(), st.st_mode & 0o7777)
                try:
                    os.fchown(f.fileno(), st.st_uid, st.st_gid)
                except PermissionError:
                    pass
            else:
                os.fchmod(f.fileno(), 0o644 if mode is None else mode)
            if durable:
                os.fsync(f.fileno())
        os.rename(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    if not durable:
        return
    try:
        dfd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
    except OSError:
        pass


def read_text(path):
    try:
        with open(path, "rb") as f:
            return f.read().decode("utf-8")
    except FileNotFoundError:
        return None


def pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class FolderLock:
    """The apply script's lock of a node folder: flock on FOLDER/.registry-mirrors.lock (removed when released, as the
    apply script does), and its .lock.d fallback honoured when a live pid holds it. Never waits."""

    def __init__(self, folder):
        self.path = os.path.join(folder, ".registry-mirrors.lock")
        self.fd = None

    def acquire(self):
        held = self.path + ".d"
        try:
            with open(os.path.join(held, "pid")) as f:
                if pid_alive(int(f.read().strip() or "0")):
                    return False
        except (OSError, ValueError):
            if os.path.isdir(held):
                return False
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as e:
            os.close(fd)
            if e.errno in (errno.EAGAIN, errno.EACCES):
                return False
            raise
        try:
            same = os.fstat(fd).st_ino == os.stat(self.path).st_ino
        except FileNotFoundError:
            same = False
        if not same:  # the holder removed it as it ended: try again next round
            os.close(fd)
            return False
        self.fd = fd
        return True

    def release(self):
        if self.fd is None:
            return
        try:
            os.unlink(self.path)
        except OSError:
            pass
        os.close(self.fd)
        self.fd = None


class Watchdog:
    def __init__(self, plan, root, ctl, out=None, clock=time.time, rng=None):
        self.plan = plan
        self.root = root
        self.ctl = ctl
        self.out = out or sys.stdout
        self.clock = clock
        self.rng = rng or random.Random()
        self.timings = plan["timings"]
        self.state_dir = node_path(root, plan.get("stateDir") or "/var/lib/registry-mirrors/watchdog")
        metrics = plan.get("metricsFile")
        self.metrics_file = node_path(root, metrics) if metrics else None
        saved = self._load_state()
        now = self.clock()
        saved_eps = saved.get("endpoints") if isinstance(saved.get("endpoints"), dict) else {}
        self.trackers = dict((ep["url"], Tracker(now, saved_eps.get(ep["url"]))) for ep in plan["endpoints"])
        self.written = saved.get("written") if isinstance(saved.get("written"), dict) else {}
        self.reported = saved.get("reported") if isinstance(saved.get("reported"), dict) else {}
        self.pending_reload = set(saved.get("pendingReload") or [])
        self.files_status = {}
        self.waiting = set()  # files whose lock an apply run holds: tried again each second
        self.last_saved = None
        self.failed = False

    # -- state and output --

    def _load_state(self):
        text = read_text(os.path.join(self.state_dir, "state.json"))
        if text is None:
            return {}
        try:
            doc = json.loads(text)
        except ValueError:
            self.say("error", what="state", file=os.path.join(self.state_dir, "state.json"), reason="not JSON; starting afresh")
            return {}
        return doc if isinstance(doc, dict) else {}

    def say(self, event, **fields):
        self.out.write(log_line(event, **fields) + "\n")
        self.out.flush()

    def save(self):
        now = self.clock()
        state = {
            "endpoints": dict((u, t.to_json()) for u, t in self.trackers.items()),
            "written": self.written,
            "reported": self.reported,
            "pendingReload": sorted(self.pending_reload),
        }
        checksum = self.config_checksum()
        try:
            os.makedirs(self.state_dir, exist_ok=True)
            text = json.dumps(state, indent=2, sort_keys=True) + "\n"
            if text != self.last_saved:
                write_atomic(os.path.join(self.state_dir, "state.json"), text, 0o644)
                self.last_saved = text
            write_atomic(
                os.path.join(self.state_dir, "status.json"),
                render_status(self.plan, self.trackers, self.files_status, checksum, now),
                0o644,
                durable=False,
            )
        except OSError as e:
            self.failed = True
            self.say("error", what="status", folder=self.state_dir, reason=str(e))
        if self.metrics_file:
            try:
                write_atomic(
                    self.metrics_file,
                    render_metrics(self.plan, self.trackers, self.files_status, checksum, now),
                    0o644,
                    durable=False,
                )
            except OSError as e:
                self.failed = True
                self.say("error", what="metrics", file=self.metrics_file, reason=str(e))

    def config_checksum(self):
        h = hashlib.sha256()
        for spec in self.plan["files"]:
            if spec["action"] != "rewrite":
                continue
            text = read_text(node_path(self.root, spec["path"]))
            h.update(("%s %s\n" % (spec["path"], sha256(text) if text is not None else "-")).encode("utf-8"))
        return h.hexdigest()

    # -- probes --

    def handle_result(self, url, ok, latency, error):
        change = self.trackers[url].record(ok, latency, error, self.clock(), self.timings)
        if change is None:
            return False
        t = self.trackers[url]
        if change == "down":
            self.say("endpoint", endpoint=url, state="down", reason="%d failed probes in a row, last: %s" % (t.failures, error))
        else:
            self.say("endpoint", endpoint=url, state="up", reason="%d good probes in a row" % t.successes)
        for spec in self.plan["files"]:
            if spec["action"] == "report" and url in (spec.get("endpoints") or []):
                self.say(
                    "report",
                    runtime=spec.get("runtime"),
                    file=spec["path"],
                    endpoint=url,
                    state=change,
                    reason="%s reads this file only at start-up; it is not rewritten" % spec.get("runtime"),
                )
        return True

    # -- files --

    def down(self):
        return set(u for u, t in self.trackers.items() if t.state == "down")

    def reconcile(self):
        """Brings every rewrite file to its effective content; True when everything that had to be written was."""
        down = self.down()
        ok = True
        for spec in self.plan["files"]:
            if spec["action"] != "rewrite":
                self.files_status[spec["path"]] = {
                    "status": "reported",
                    "runtime": spec.get("runtime"),
                    "listsDown": sorted(u for u in spec.get("endpoints") or [] if u in down),
                }
                continue
            if not self.reconcile_file(spec, down):
                ok = False
        for unit in sorted(self.pending_reload):
            if not self.reload(unit):
                ok = False
        return ok

    def reconcile_file(self, spec, down):
        path = spec["path"]
        full = node_path(self.root, path)
        without = [u for u in spec.get("endpoints") or [] if u in down]
        status = {"runtime": spec.get("runtime"), "without": without}
        self.files_status[path] = status
        current = read_text(full)
        if current is None:
            status["status"] = "missing"
            if self.reported.get(path) != "missing":
                self.reported[path] = "missing"
                self.say("left-alone", file=path, reason="the file is not there (not applied yet, or restored)")
            return True
        last = self.written.get(path) or {}
        if spec["format"] == "docker-daemon-json":
            ours = daemon_json_ours(current, spec["content"], last.get("mirrors"), last.get("sha256"))
        else:
            ours = sha256(current) in (sha256(spec["content"]), last.get("sha256"))
        if not ours:
            status["status"] = "left-alone"
            mark = "hand:" + sha256(current)
            if self.reported.get(path) != mark:
                self.reported[path] = mark
                self.say("left-alone", file=path, reason="changed by hand since the last apply; the watchdog does not touch it")
            return True
        self.reported.pop(path, None)
        status["status"] = "effective" if without else "desired"
        if spec["format"] == "docker-daemon-json":
            # Compared as values: a file the apply script wrote with jq, or that is ours by its keys, stays as it is.
            wanted = [m for m in spec["mirrors"] if m not in down]
            if same_json(json.loads(current).get("registry-mirrors"), wanted):
                return True
        want = effective_content(spec, down, current)
        if want is None or want == current:
            return True
        lock = FolderLock(node_path(self.root, spec["lock"]))
        try:
            if not lock.acquire():
                status["status"] = "waiting"
                if path not in self.waiting:
                    self.waiting.add(path)
                    self.say("busy", file=path, reason="the apply script holds %s; trying again" % spec["lock"])
                return True
            self.waiting.discard(path)
            write_atomic(full, want)
            record = {"sha256": sha256(want)}
            if spec["format"] == "docker-daemon-json":
                record["mirrors"] = [m for m in spec["mirrors"] if m not in down]
            self.written[path] = record
            self.say(
                "write",
                file=path,
                runtime=spec.get("runtime"),
                without=",".join(without) if without else None,
                reason="restored the policy's order" if not without else "endpoints down",
            )
            if spec.get("ecrRender") and not self.render_ecr(spec):
                return False
            if spec.get("reload"):
                self.pending_reload.add(spec["reload"])
                return self.reload(spec["reload"])
            return True
        except OSError as e:
            status["status"] = "write-failed"
            self.say("error", what="write", file=path, reason=str(e))
            return False
        finally:
            lock.release()

    def run_ctl(self, args, timeout=60):
        try:
            p = subprocess.run(
                self.ctl + args,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                timeout=timeout,
                universal_newlines=True,
            )
            return p.returncode, p.stdout.strip()
        except (OSError, subprocess.TimeoutExpired) as e:
            return 127, str(e)

    def reload(self, unit):
        """`$RUNTIME_CTL reload UNIT` when the unit is active; a unit that is not running reads the file when it starts."""
        code, _ = self.run_ctl(["is-active", "--quiet", unit])
        if code != 0:
            self.pending_reload.discard(unit)
            self.say("reload", unit=unit, result="skipped", reason="not active; it reads the file when it starts")
            return True
        code, output = self.run_ctl(["reload", unit])
        if code == 0:
            self.pending_reload.discard(unit)
            self.say("reload", unit=unit, result="ok")
            return True
        self.say("reload", unit=unit, result="failed", reason=(output or "exit %d" % code)[:300])
        return False

    def render_ecr(self, spec):
        script = node_path(self.root, spec["ecrRender"])
        if not os.path.exists(script):
            self.say("error", what="ecr", file=spec["path"], reason="%s is missing; run the apply script" % spec["ecrRender"])
            return False
        env = dict(os.environ, NODE_ROOT=self.root)
        try:
            p = subprocess.run(
                ["sh", script, "--render-only"],
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=env,
                timeout=330,
                universal_newlines=True,
            )
        except (OSError, subprocess.TimeoutExpired) as e:
            self.say("error", what="ecr", file=spec["path"], reason=str(e))
            return False
        if p.returncode != 0:
            self.say("error", what="ecr", file=spec["path"], reason=p.stdout.strip()[:300])
            return False
        return True


class Prober:
    """Runs probes in daemon threads; results arrive on a queue. A probe that outlives its deadline counts as failed."""

    def __init__(self, timings, root):
        self.timings = timings
        self.root = root
        self.results = queue.Queue()
        self.inflight = {}  # url -> (thread, deadline)
        self.hanging = {}  # url -> [threads past their deadline]
        self.limit = timings["connectTimeoutSeconds"] + timings["firstByteTimeoutSeconds"] + 1

    def start(self, endpoint):
        url = endpoint["url"]
        hanging = [t for t in self.hanging.get(url, []) if t.is_alive()]
        self.hanging[url] = hanging
        if len(hanging) >= MAX_HANGING:
            self.results.put((url, False, None, "%d earlier probes still hang" % len(hanging), None))
            return
        token = object()

        def work():
            ok, latency, error = probe(endpoint, self.timings, self.root)
            self.results.put((url, ok, latency, error, token))

        thread = threading.Thread(target=work, name="probe " + url)
        thread.daemon = True
        self.inflight[url] = (thread, time.monotonic() + self.limit, token)
        thread.start()

    def busy(self, url):
        return url in self.inflight

    def collect(self, timeout):
        """Results that arrived within `timeout` seconds, plus a failure for each probe past its deadline."""
        out = []
        try:
            item = self.results.get(timeout=max(0.0, timeout))
            out.append(item)
            while True:
                out.append(self.results.get_nowait())
        except queue.Empty:
            pass
        done = []
        for url, ok, latency, error, token in out:
            current = self.inflight.get(url)
            if token is None or (current is not None and current[2] is token):
                self.inflight.pop(url, None)
                done.append((url, ok, latency, error))
        now = time.monotonic()
        for url, (thread, deadline, _token) in list(self.inflight.items()):
            if now >= deadline:
                del self.inflight[url]
                self.hanging.setdefault(url, []).append(thread)
                done.append((url, False, None, "no answer within %gs in all" % self.limit))
        return done

    def next_deadline(self):
        return min([d for _t, d, _k in self.inflight.values()] or [float("inf")])


def state_lock(state_dir):
    os.makedirs(state_dir, exist_ok=True)
    fd = os.open(os.path.join(state_dir, ".lock"), os.O_WRONLY | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        return None
    return fd


def run_once(dog, prober):
    for ep in dog.plan["endpoints"]:
        prober.start(ep)
    pending = set(ep["url"] for ep in dog.plan["endpoints"])
    while pending:
        wait = max(0.05, prober.next_deadline() - time.monotonic()) if prober.inflight else 0
        for url, ok, latency, error in prober.collect(min(wait, 1.0)):
            dog.handle_result(url, ok, latency, error)
            pending.discard(url)
    ok = dog.reconcile()
    dog.save()
    return EXIT_OK if ok and not dog.failed else EXIT_FAILED


def files_signature(dog):
    """Inode, size and mtime of every rewrite file: a change means someone wrote one (an apply run)."""
    sig = []
    for spec in dog.plan["files"]:
        if spec["action"] == "rewrite":
            try:
                st = os.stat(node_path(dog.root, spec["path"]))
                sig.append((st.st_ino, st.st_size, st.st_mtime_ns))
            except OSError:
                sig.append(None)
    return sig


def run_forever(dog, prober, stop):
    mono = time.monotonic
    interval = dog.timings["intervalSeconds"]
    due = dict((ep["url"], mono() + dog.rng.random() * interval) for ep in dog.plan["endpoints"])
    endpoints = dict((ep["url"], ep) for ep in dog.plan["endpoints"])
    dog.reconcile()
    dog.save()
    signature = files_signature(dog)
    next_reconcile = next_save = mono() + interval
    while not stop.is_set():
        now = mono()
        for url, when in sorted(due.items(), key=lambda kv: kv[1]):
            if when <= now and not prober.busy(url):
                prober.start(endpoints[url])
                due[url] = float("inf")
        wake = min(list(due.values()) + [prober.next_deadline(), next_reconcile])
        results = prober.collect(min(max(0.0, wake - mono()), 1.0))
        changed = False
        for url, ok, latency, error in results:
            changed = dog.handle_result(url, ok, latency, error) or changed
            all_down = all(t.state == "down" for t in dog.trackers.values())
            due[url] = mono() + dog.trackers[url].next_wait(dog.timings, dog.rng.random(), all_down)
        reconciled = changed or mono() >= next_reconcile or bool(results and dog.pending_reload)
        # While an endpoint is down, an apply run that writes the desired files back is undone within a second.
        if not reconciled and (dog.waiting or (dog.down() and files_signature(dog) != signature)):
            reconciled = True
        if reconciled:
            dog.reconcile()
            signature = files_signature(dog)
            next_reconcile = mono() + interval
        # Status and metrics: at once after a change, else once per interval (a probe alone does not rewrite them).
        if changed or mono() >= next_save:
            dog.failed = False
            dog.save()
            next_save = mono() + interval
    dog.save()
    return EXIT_OK


def parse_args(argv):
    args = {"plan": None, "root": "/", "once": False}
    i = 0
    while i < len(argv):
        a = argv[i]
        if a == "--once":
            args["once"] = True
        elif a in ("--plan", "--root") and i + 1 < len(argv):
            args[a[2:]] = argv[i + 1]
            i += 1
        elif a.startswith("--plan=") or a.startswith("--root="):
            key, _, value = a[2:].partition("=")
            args[key] = value
        else:
            raise PlanError("unknown argument %r" % a)
        i += 1
    if not args["plan"]:
        raise PlanError("--plan FILE is required")
    if not args["root"].startswith("/"):
        raise PlanError("--root must be an absolute folder (got %r)" % args["root"])
    return args


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    try:
        args = parse_args(argv)
        with open(args["plan"], encoding="utf-8") as f:
            plan = load_plan(f.read())
    except (PlanError, OSError) as e:
        sys.stderr.write("watchdog: %s\nusage: python3 watchdog.py --plan PLAN.json [--root NODE_ROOT] [--once]\n" % e)
        return EXIT_USAGE
    ctl = (os.environ.get("RUNTIME_CTL") or "systemctl").split()
    root = args["root"]
    state_dir = node_path(root, plan.get("stateDir") or "/var/lib/registry-mirrors/watchdog")
    stop = threading.Event()
    lock_fd = state_lock(state_dir)
    if lock_fd is None:
        if args["once"]:
            sys.stderr.write("watchdog: another watchdog holds %s/.lock\n" % state_dir)
            return EXIT_BUSY
        print(log_line("busy", folder=state_dir, reason="another watchdog holds its lock; waiting"), flush=True)
        while lock_fd is None:
            time.sleep(5)
            lock_fd = state_lock(state_dir)
    try:
        dog = Watchdog(plan, root, ctl)
        prober = Prober(plan["timings"], root)
        if args["once"]:
            return run_once(dog, prober)
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(sig, lambda *_: stop.set())
        dog.say(
            "start", endpoints=len(plan["endpoints"]), files=len(plan["files"]), interval=plan["timings"]["intervalSeconds"]
        )
        code = run_forever(dog, prober, stop)
        dog.say("stop")
        return code
    finally:
        os.close(lock_fd)


if __name__ == "__main__":
    sys.exit(main())
