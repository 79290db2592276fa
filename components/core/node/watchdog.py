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

# The modules beside this file: wd_plan.py (the plan, the files' content), wd_state.py (hysteresis, status, metrics),
# wd_probe.py, wd_files.py (atomic writes, locks), wd_dog.py (a round's results and files); this file runs the rounds.
import os
import signal
import sys
import threading
import time

# Its modules are imported without writing __pycache__ into the engine's (or the source) folder.
sys.dont_write_bytecode = True
# Beyond what this file uses, check.py and test/node/test_watchdog.py reach these names through this module.
from wd_dog import Watchdog
from wd_files import node_path, read_text, state_lock
from wd_plan import PlanError, assemble, daemon_json_effective, daemon_json_ours, load_plan, sha256
from wd_probe import Prober, probe, proxy_for, split_host
from wd_state import Tracker, log_line, render_metrics

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_BUSY = 3


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
