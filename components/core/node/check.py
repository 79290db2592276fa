#!/usr/bin/env python3
"""registry-mirrors node check: does this node really use the mirrors the policy rendered? (`apply-node-config.sh check`)

Usage:  python3 check.py --work WORK --root NODE_ROOT [--hosts-dir DIR] [--template SUFFIX] [--groups "crio ..."]
                         [--readiness]
  WORK holds what the apply script's data part wrote there: watch-plan.json, docker.json (the managed daemon.json
  keys), containerd.list ("NAME MODE PATH [ecr]") and GROUP.list ("NAME MODE PATH") with each file's content in
  WORK/NAME; watchdog.py beside this file (its plan reader, probe and daemon.json rules are reused).
Checks, one line each ("ok:", "note:", or "problem: ... Fix: ..."):
  - each file equals the rendered one, or the one the watchdog last wrote (its state.json); an ECR hosts.toml: its
    template; daemon.json: the managed keys as rendered, its mirrors as rendered or as the watchdog left them;
  - dockerd's mirrors (`docker info`) are daemon.json's (when the docker CLI is here);
  - containerd's config.toml sets config_path to the hosts folder, and each hosts.toml parses (Python 3.11+);
  - the CRI-O/podman drop-in parses and no later drop-in in registries.conf.d redefines its registries (Python
    3.11+); with podman here, containers/image (the library CRI-O and podman share) reads the drop-in and resolves
    each registry to its mirrors (`podman info`, with CONTAINERS_REGISTRIES_CONF set to the drop-in), and on the
    node itself (root /) the whole configuration as podman reads it lists the same mirrors (not shadowed);
  - each endpoint of the policy answers GET /v2/ with 200 or 401 from this node (the watchdog's probe and timeouts).
--readiness (the DaemonSet's readiness probe, run every few seconds on every node): the same checks of the node's
  files and runtimes, but no probe of the endpoints: their state comes from the watchdog's state.json, and a down
  endpoint is a note, not a problem. The watchdog already takes it out of the effective files (and check accepts
  those), so the node pulls from the next endpoint; failing readiness for it would turn one shared mirror's outage
  into every node of the fleet going not-ready at once, and would stall a rollout that has nothing to fix.
  Readiness fails only on what a node can fix: a file that is not the rendered (or effective) one, a runtime not
  using it (dockerd not reloaded, no config_path, a hosts.toml that does not parse, a CRI-O drop-in shadowed).
Exit:   0 no problem; 1 at least one problem; 2 bad usage.
"""

import json
import os
import re
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import watchdog as wd  # noqa: E402

DAEMON_JSON = "/etc/docker/daemon.json"
APPLY = "run the apply script again: sh apply-node-config.sh apply"


class Report:
    def __init__(self):
        self.problems = 0

    def ok(self, text):
        print("ok: " + text, flush=True)

    def note(self, text):
        print("note: " + text, flush=True)

    def problem(self, text, fix):
        self.problems += 1
        print("problem: %s. Fix: %s" % (text, fix), flush=True)


def read(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


def list_lines(path):
    if not os.path.exists(path):
        return []
    return [line.split() for line in read(path).splitlines() if line.strip()]


def listed_paths(work, groups):
    return [w[2] for group in groups for w in list_lines(os.path.join(work, group + ".list"))]


def check_files(report, work, root, groups, template, written):
    entries = [(w[0], w[2], "ecr" in w[3:]) for w in list_lines(os.path.join(work, "containerd.list"))]
    for group in groups:
        entries += [(w[0], w[2], False) for w in list_lines(os.path.join(work, group + ".list"))]
    for name, path, ecr in entries:
        desired = read(os.path.join(work, name))
        target = path + template if ecr else path
        current = wd.read_text(wd.node_path(root, target))
        last = (written.get(target) or {}).get("sha256")
        if current is None:
            report.problem("%s is missing" % target, APPLY)
        elif current == desired:
            report.ok("%s is the rendered file" % target)
        elif last is not None and wd.sha256(current) == last:
            report.ok("%s is the watchdog's effective file (without the endpoints it found down)" % target)
        else:
            report.problem(
                "%s is not the file this policy rendered (changed by hand or by another tool, or a stale apply)" % target,
                APPLY + ", or find who changed it",
            )
    return [path for _, path, ecr in entries if path.endswith("/hosts.toml")]


def check_docker(report, work, root, written):
    desired = os.path.join(work, "docker.json")
    if not os.path.exists(desired):
        return
    current = wd.read_text(wd.node_path(root, DAEMON_JSON))
    last = written.get(DAEMON_JSON) or {}
    if current is None:
        report.problem("%s is missing" % DAEMON_JSON, APPLY)
        return
    if not wd.daemon_json_ours(current, read(desired), last.get("mirrors"), last.get("sha256")):
        report.problem("%s does not hold the rendered keys (changed by hand, or a stale apply)" % DAEMON_JSON, APPLY)
        return
    report.ok("%s holds the rendered keys" % DAEMON_JSON)
    if shutil.which("docker") is None:
        report.note("no docker CLI here: the mirrors dockerd uses were not checked (docker info)")
        return
    try:
        res = subprocess.run(
            ["docker", "info", "--format", "{{json .RegistryConfig.Mirrors}}"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            universal_newlines=True,
            timeout=30,
        )
    except (OSError, subprocess.TimeoutExpired) as e:
        report.problem("docker info failed (%s)" % e, "check that dockerd runs: systemctl status docker")
        return
    if res.returncode != 0:
        report.problem("docker info failed (%s)" % res.stderr.strip()[:200], "check that dockerd runs: systemctl status docker")
        return
    using = [m.rstrip("/") for m in (json.loads(res.stdout) or [])]
    listed = [m.rstrip("/") for m in (json.loads(current).get("registry-mirrors") or [])]
    if using != listed:
        report.problem(
            "dockerd uses the mirrors %s, daemon.json lists %s (it was not reloaded)" % (using, listed),
            "reload it (SIGHUP; no restart): systemctl reload docker",
        )
    else:
        report.ok("dockerd uses daemon.json's mirrors %s" % listed)


def check_containerd(report, root, hosts_dir, hosts_files):
    if not hosts_dir:
        return
    config = wd.read_text(wd.node_path(root, "/etc/containerd/config.toml"))
    paths = []
    for value in re.findall(r'^\s*config_path\s*=\s*"([^"]*)"', config or "", re.M):
        paths += value.split(":")
    if hosts_dir in paths:
        report.ok("containerd's config.toml sets config_path to %s" % hosts_dir)
    else:
        report.problem(
            "containerd's config.toml does not set config_path to %s, so containerd ignores the hosts.toml files" % hosts_dir,
            APPLY + ' with restartPolicy "if-needed" (setting config_path needs a containerd restart)',
        )
    try:
        import tomllib
    except ImportError:
        report.note("Python %d.%d has no tomllib: hosts.toml syntax not checked" % sys.version_info[:2])
        return
    for path in hosts_files:
        text = wd.read_text(wd.node_path(root, path))
        if text is None:
            continue
        try:
            tomllib.loads(text)
        except tomllib.TOMLDecodeError as e:
            report.problem("%s does not parse as TOML (%s); containerd skips it" % (path, e), APPLY)


DROPIN = "/etc/containers/registries.conf.d/50-registry-mirrors.conf"


def registries_of(doc):
    """{prefix (else location): [mirror locations]} of a registries.conf (v2) document."""
    out = {}
    for entry in doc.get("registry") or []:
        if not isinstance(entry, dict):
            continue
        name = entry.get("prefix") or entry.get("location")
        if isinstance(name, str) and name:
            out[name] = [m.get("location") for m in entry.get("mirror") or [] if isinstance(m, dict)]
    return out


def podman_registries(env_conf):
    """podman's view of the registries ({prefix: [mirror locations]}), or an error string."""
    env = dict(os.environ)
    if env_conf:
        env["CONTAINERS_REGISTRIES_CONF"] = env_conf
    try:
        res = subprocess.run(
            ["podman", "info", "--format", "{{json .Registries}}"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            universal_newlines=True,
            timeout=60,
            env=env,
        )
    except (OSError, subprocess.TimeoutExpired) as e:
        return str(e)
    if res.returncode != 0:
        return (res.stderr.strip() or "exit %d" % res.returncode)[:300]
    try:
        doc = json.loads(res.stdout) or {}
    except ValueError:
        return "podman info printed no JSON"
    out = {}
    for name, entry in doc.items():
        if isinstance(entry, dict):
            out[name] = [m.get("Location") for m in entry.get("Mirrors") or [] if isinstance(m, dict)]
    return out


def check_dropin(report, root, readiness):
    """The CRI-O/podman drop-in: parses, not shadowed by a later drop-in, and read by containers/image (podman)."""
    text = wd.read_text(wd.node_path(root, DROPIN))
    if text is None:
        return  # reported as missing with the files
    try:
        import tomllib
    except ImportError:
        report.note("Python %d.%d has no tomllib: the CRI-O/podman drop-in was not parsed" % sys.version_info[:2])
        return
    try:
        mine = registries_of(tomllib.loads(text))
    except tomllib.TOMLDecodeError as e:
        report.problem("%s does not parse as TOML (%s); CRI-O and podman refuse every registries.conf then" % (DROPIN, e), APPLY)
        return
    folder, base = os.path.split(DROPIN)
    try:
        names = sorted(n for n in os.listdir(wd.node_path(root, folder)) if n.endswith(".conf") and n > base)
    except OSError:
        names = []
    shadowed = False
    # containers/image reads the drop-ins in lexical order; a later file's entry for a prefix replaces ours.
    for name in names:
        path = folder + "/" + name
        try:
            theirs = registries_of(tomllib.loads(wd.read_text(wd.node_path(root, path)) or ""))
        except tomllib.TOMLDecodeError as e:
            shadowed = True
            report.problem("%s does not parse as TOML (%s); CRI-O and podman refuse to load the registries configuration" % (path, e), "fix or remove " + path)
            continue
        both = sorted(set(theirs) & set(mine))
        if both:
            shadowed = True
            report.problem(
                "%s is read after %s and redefines %s, so CRI-O and podman use its entries, not the mirrors" % (path, base, ", ".join(both)),
                "remove those entries from %s, or put the mirrors into the policy and delete the file" % path,
            )
    if not shadowed:
        report.ok("%s parses and no later drop-in redefines %s" % (DROPIN, ", ".join(sorted(mine))))
    if readiness:
        return
    if shutil.which("podman") is None:
        report.note("no podman here: containers/image was not asked how it resolves the registries")
        return
    views = [("the drop-in", wd.node_path(root, DROPIN))]
    if root in ("", "/"):
        views.append(("the node's whole configuration", None))
    for label, conf in views:
        seen = podman_registries(conf)
        if not isinstance(seen, dict):
            report.problem("podman could not read %s (%s)" % (label, seen), "fix the file it names, or " + APPLY)
            continue
        for name in sorted(mine):
            want = [m for m in mine[name] if m]
            got = seen.get(name)
            if got == want:
                report.ok("podman resolves %s through %s: mirrors %s" % (name, label, want))
            else:
                report.problem(
                    "podman resolves %s through %s to the mirrors %s, not %s (another registries.conf or a user's own overrides the drop-in)"
                    % (name, label, got if got is not None else "(no entry)", want),
                    "remove the other definition of %s (podman info shows what podman reads), or %s" % (name, APPLY),
                )


def check_endpoints(report, plan, root):
    for ep in plan["endpoints"]:
        up, latency, error = wd.probe(ep, plan["timings"], root)
        if up:
            report.ok("%s answers GET /v2/ in %.2f s" % (ep["url"], latency))
        else:
            report.problem(
                "%s does not answer GET /v2/ from this node (%s)" % (ep["url"], error),
                "check the mirror and the path to it (DNS, firewall, proxy); while it is down the watchdog keeps it out",
            )


def endpoint_states(report, plan, saved):
    """--readiness: each endpoint as the watchdog last saw it (its state.json), never a problem."""
    endpoints = saved.get("endpoints") if isinstance(saved.get("endpoints"), dict) else {}
    for ep in plan["endpoints"]:
        t = endpoints.get(ep["url"])
        if not isinstance(t, dict):
            report.note("%s: no watchdog probe yet" % ep["url"])
        elif t.get("state") == "down":
            report.note(
                "%s is down (%s); the watchdog keeps it out of the effective files, so pulls use the next endpoint"
                % (ep["url"], t.get("error") or "no answer")
            )
        elif t.get("failures"):
            report.note("%s failed its last probe (%s); the watchdog is confirming" % (ep["url"], t.get("error")))
        else:
            report.ok("%s answered the watchdog's last probe" % ep["url"])


def main(argv):
    args = {"work": None, "root": "/", "hosts-dir": "", "template": "", "groups": ""}
    readiness = "--readiness" in argv
    argv = [a for a in argv if a != "--readiness"]
    i = 0
    while i < len(argv):
        key = argv[i][2:] if argv[i].startswith("--") else None
        if key not in args or i + 1 >= len(argv):
            sys.stderr.write("check: bad argument %r\n" % argv[i])
            return 2
        args[key] = argv[i + 1]
        i += 2
    work, root = args["work"], args["root"]
    if not work:
        sys.stderr.write("check: --work is required\n")
        return 2
    plan = wd.load_plan(read(os.path.join(work, "watch-plan.json")))
    state_dir = wd.node_path(root, plan.get("stateDir") or "/var/lib/registry-mirrors/watchdog")
    try:
        saved = json.loads(read(os.path.join(state_dir, "state.json")))
        if not isinstance(saved, dict):
            saved = {}
    except (OSError, ValueError):
        saved = {}
    written = saved.get("written") if isinstance(saved.get("written"), dict) else {}
    report = Report()
    hosts_files = check_files(report, work, root, args["groups"].split(), args["template"], written)
    check_docker(report, work, root, written)
    check_containerd(report, root, args["hosts-dir"], hosts_files)
    if any(path == DROPIN for path in listed_paths(work, args["groups"].split())):
        check_dropin(report, root, readiness)
    if readiness:
        endpoint_states(report, plan, saved)
    else:
        check_endpoints(report, plan, root)
    if report.problems:
        print("check: %d problem(s)" % report.problems, flush=True)
        return 1
    print("check: the node uses the rendered mirrors", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
