#!/usr/bin/env python3
"""registry-mirrors node check: does this node really use the mirrors the policy rendered? (`apply-node-config.sh check`)

Usage:  python3 check.py --work WORK --root NODE_ROOT [--hosts-dir DIR] [--template SUFFIX] [--groups "crio ..."]
  WORK holds what the apply script's data part wrote there: watch-plan.json, docker.json (the managed daemon.json
  keys), containerd.list ("NAME MODE PATH [ecr]") and GROUP.list ("NAME MODE PATH") with each file's content in
  WORK/NAME; watchdog.py beside this file (its plan reader, probe and daemon.json rules are reused).
Checks, one line each ("ok:", "note:", or "problem: ... Fix: ..."):
  - each file equals the rendered one, or the one the watchdog last wrote (its state.json); an ECR hosts.toml: its
    template; daemon.json: the managed keys as rendered, its mirrors as rendered or as the watchdog left them;
  - dockerd's mirrors (`docker info`) are daemon.json's (when the docker CLI is here);
  - containerd's config.toml sets config_path to the hosts folder, and each hosts.toml parses (Python 3.11+);
  - each endpoint of the policy answers GET /v2/ with 200 or 401 from this node (the watchdog's probe and timeouts).
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


def main(argv):
    args = {"work": None, "root": "/", "hosts-dir": "", "template": "", "groups": ""}
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
        written = json.loads(read(os.path.join(state_dir, "state.json"))).get("written") or {}
    except (OSError, ValueError, AttributeError):
        written = {}
    report = Report()
    hosts_files = check_files(report, work, root, args["groups"].split(), args["template"], written)
    check_docker(report, work, root, written)
    check_containerd(report, root, args["hosts-dir"], hosts_files)
    check_endpoints(report, plan, root)
    if report.problems:
        print("check: %d problem(s)" % report.problems, flush=True)
        return 1
    print("check: the node uses the rendered mirrors", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
