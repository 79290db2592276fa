# The node watchdog (watchdog.py) on one node: endpoint results in, files rewritten, runtimes reloaded, state,
# status and metrics saved.

import hashlib
import json
import os
import random
import subprocess
import sys
import time

from wd_files import FolderLock, node_path, read_text, through_links, write_atomic
from wd_plan import daemon_json_ours, effective_content, same_json, sha256
from wd_state import Tracker, log_line, render_metrics, render_status


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
        full = through_links(self.root, node_path(self.root, path))
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
