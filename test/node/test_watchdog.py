"""Unit tests of components/core/node/watchdog.py (Python 3.6+, standard library only).

Run: python3 -m unittest discover -s test/node -p 'test_*.py'   (test/unit/watchdog-py.test.ts runs it from vitest)
No test asserts a wall-clock bound; the probe tests use loopback servers and short timeouts.
"""

import fcntl
import io
import json
import os
import random
import shutil
import socket
import stat
import sys
import tempfile
import threading
import unittest
from http.server import BaseHTTPRequestHandler, HTTPServer
from socketserver import ThreadingMixIn

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "components", "core", "node"))

import watchdog as w  # noqa: E402
import wd_files  # noqa: E402
import wd_probe  # noqa: E402

TIMINGS = {
    "intervalSeconds": 30,
    "suspectIntervalSeconds": 2,
    "maxBackoffSeconds": 240,
    "connectTimeoutSeconds": 1,
    "firstByteTimeoutSeconds": 0.5,
    "failuresToDown": 2,
    "successesToUp": 3,
    "jitter": 0.2,
}
HEADER = "# Written by registry-mirrors; edit the mirror policy, not this file.\n"
A = "http://a.example:5000"
B = "http://b.example:5000"
HOSTS_CHUNKS = [
    {"text": 'server = "https://registry-1.docker.io"'},
    {"text": '[host."%s"]\ncapabilities = [ "pull", "resolve" ]' % A, "endpoint": A},
    {"text": '[host."%s"]\ncapabilities = [ "pull", "resolve" ]' % B, "endpoint": B},
    {"text": "[host]", "whenAllDown": [A, B]},
]
HOSTS = w.assemble(HEADER, HOSTS_CHUNKS, set())
DAEMON_DESIRED = json.dumps({"registry-mirrors": [A, B]}, indent=2) + "\n"


def plan(endpoints, files, timings=None, state_dir="/var/lib/registry-mirrors/watchdog", metrics=None):
    return {
        "version": 1,
        "endpoints": [{"url": u, "probeUrl": p, "insecure": False} for u, p in endpoints],
        "files": files,
        "timings": dict(timings or TIMINGS),
        "stateDir": state_dir,
        "metricsFile": metrics,
    }


def hosts_spec(path="/etc/containerd/certs.d/docker.io/hosts.toml"):
    return {
        "path": path,
        "runtime": "containerd",
        "format": "containerd-hosts",
        "action": "rewrite",
        "endpoints": [A, B],
        "content": HOSTS,
        "prefix": HEADER,
        "chunks": HOSTS_CHUNKS,
        "lock": "/etc/containerd",
    }


def docker_spec():
    return {
        "path": "/etc/docker/daemon.json",
        "runtime": "docker",
        "format": "docker-daemon-json",
        "action": "rewrite",
        "endpoints": [A, B],
        "content": DAEMON_DESIRED,
        "mirrors": [A, B],
        "lock": "/etc/docker",
        "reload": "docker",
    }


class AssembleTest(unittest.TestCase):
    def test_all_up_is_the_desired_content(self):
        self.assertEqual(HOSTS, HEADER + HOSTS_CHUNKS[0]["text"] + "\n\n" + HOSTS_CHUNKS[1]["text"] + "\n\n" + HOSTS_CHUNKS[2]["text"] + "\n")

    def test_a_down_endpoint_loses_its_table_and_the_order_stays(self):
        out = w.assemble(HEADER, HOSTS_CHUNKS, {A})
        self.assertNotIn(A, out)
        self.assertIn('[host."%s"]' % B, out)
        self.assertNotIn("[host]\n", out)

    def test_every_endpoint_down_keeps_the_server_and_an_empty_host_table(self):
        out = w.assemble(HEADER, HOSTS_CHUNKS, {A, B})
        self.assertEqual(out, HEADER + 'server = "https://registry-1.docker.io"\n\n[host]\n')

    def test_nothing_kept_is_the_prefix_alone(self):
        self.assertEqual(w.assemble(HEADER, [{"text": "x", "endpoint": A}], {A}), HEADER)


class TrackerTest(unittest.TestCase):
    def test_down_after_k_failures_up_after_m_successes(self):
        t = w.Tracker(0)
        self.assertIsNone(t.record(False, None, "refused", 1, TIMINGS))
        self.assertEqual(t.record(False, None, "refused", 2, TIMINGS), "down")
        self.assertEqual((t.state, t.since, t.failovers, t.error), ("down", 2, 1, "refused"))
        self.assertIsNone(t.record(True, 0.01, None, 3, TIMINGS))
        self.assertIsNone(t.record(True, 0.01, None, 4, TIMINGS))
        self.assertEqual(t.record(True, 0.01, None, 5, TIMINGS), "up")
        self.assertEqual((t.state, t.since, t.error), ("up", 5, None))

    def test_a_success_ends_a_suspicion(self):
        t = w.Tracker(0)
        t.record(False, None, "x", 1, TIMINGS)
        t.record(True, 0.1, None, 2, TIMINGS)
        self.assertIsNone(t.record(False, None, "x", 3, TIMINGS))
        self.assertEqual(t.state, "up")

    def test_a_failure_restarts_the_recovery_count(self):
        t = w.Tracker(0, {"state": "down"})
        t.record(True, 0.1, None, 1, TIMINGS)
        t.record(True, 0.1, None, 2, TIMINGS)
        t.record(False, None, "x", 3, TIMINGS)
        t.record(True, 0.1, None, 4, TIMINGS)
        t.record(True, 0.1, None, 5, TIMINGS)
        self.assertEqual(t.state, "down")
        self.assertEqual(t.record(True, 0.1, None, 6, TIMINGS), "up")

    def test_waits_interval_suspect_backoff(self):
        no_jitter = dict(TIMINGS, jitter=0)
        t = w.Tracker(0)
        self.assertEqual(t.next_wait(no_jitter, 0.5), 30)
        t.record(False, None, "x", 1, no_jitter)
        self.assertEqual(t.next_wait(no_jitter, 0.5), 2)
        t.record(False, None, "x", 2, no_jitter)
        self.assertEqual([t.next_wait(no_jitter, 0.5) for _ in range(5)], [30, 60, 120, 240, 240])
        t.record(True, 0.1, None, 3, no_jitter)
        self.assertEqual(t.next_wait(no_jitter, 0.5), 2)

    def test_no_backoff_while_every_endpoint_is_down(self):
        no_jitter = dict(TIMINGS, jitter=0)
        t = w.Tracker(0, {"state": "down"})
        self.assertEqual([t.next_wait(no_jitter, 0.5, all_down=True) for _ in range(3)], [30, 30, 30])
        self.assertEqual(t.next_wait(no_jitter, 0.5), 30)
        self.assertEqual(t.next_wait(no_jitter, 0.5), 60)

    def test_jitter_stays_within_its_fraction(self):
        t = w.Tracker(0)
        self.assertAlmostEqual(t.next_wait(TIMINGS, 0.0), 24)
        self.assertAlmostEqual(t.next_wait(TIMINGS, 0.999999), 36, places=3)

    def test_state_survives_a_round_trip(self):
        t = w.Tracker(0)
        t.record(False, None, "x", 1, TIMINGS)
        t.record(False, None, "x", 2, TIMINGS)
        again = w.Tracker(99, json.loads(json.dumps(t.to_json())))
        self.assertEqual(again.to_json(), t.to_json())

    def test_probe_rate_never_exceeds_max_k_m_per_interval(self):
        """The documented bound: at most max(K, M) probes per interval x (1 - jitter) in the long run, whatever the
        endpoint does (here: flapping at random, the worst case for the suspicion and recovery probes)."""
        rng = random.Random(7)
        for fail_rate in (0.0, 0.3, 0.5, 0.7, 1.0):
            t = w.Tracker(0)
            now, probes = 0.0, 0
            while now < 100000:
                t.record(rng.random() >= fail_rate, 0.01, "x", now, TIMINGS)
                probes += 1
                now += t.next_wait(TIMINGS, rng.random())
            bound = max(TIMINGS["failuresToDown"], TIMINGS["successesToUp"]) / (
                TIMINGS["intervalSeconds"] * (1 - TIMINGS["jitter"])
            )
            self.assertLessEqual(probes / now, bound, "fail rate %s" % fail_rate)


class ProxyTest(unittest.TestCase):
    def test_like_go_net_http(self):
        env = {"HTTPS_PROXY": "http://user:p%40ss@proxy.corp:3128", "http_proxy": "proxy.corp:8080", "NO_PROXY": "internal.example,.svc,10.0.0.0/8,mirror.example:5000"}
        auth = "Basic dXNlcjpwQHNz"
        cases = [
            ("https://mirror.gcr.io/v2/", ("proxy.corp", 3128, auth)),
            ("http://mirror.gcr.io/v2/", ("proxy.corp", 8080, None)),
            ("https://internal.example/v2/", None),
            ("https://a.internal.example/v2/", None),
            ("https://registry.svc/v2/", None),
            ("http://10.1.2.3:5000/v2/", None),
            ("http://11.1.2.3:5000/v2/", ("proxy.corp", 8080, None)),
            ("https://mirror.example:5000/v2/", None),
            ("https://mirror.example/v2/", ("proxy.corp", 3128, auth)),
            ("http://127.0.0.1:5000/v2/", None),
            ("http://[::1]:5000/v2/", None),
            ("http://localhost:5000/v2/", None),
        ]
        for url, want in cases:
            self.assertEqual(w.proxy_for(url, env), want, url)
        self.assertIsNone(w.proxy_for("https://x.example/v2/", {}))
        self.assertIsNone(w.proxy_for("https://x.example/v2/", {"HTTPS_PROXY": "http://p:1", "no_proxy": "*"}))

    def test_split_host(self):
        self.assertEqual(w.split_host("[fd00::1]:5000", "http"), ("fd00::1", 5000))
        self.assertEqual(w.split_host("[fd00::1]", "https"), ("fd00::1", 443))
        self.assertEqual(w.split_host("a.example", "http"), ("a.example", 80))


class DaemonJsonTest(unittest.TestCase):
    def test_only_registry_mirrors_changes(self):
        node = {"runtimes": {"nvidia": {"path": "/usr/bin/nvidia"}}, "log-driver": "json-file", "registry-mirrors": [A, B]}
        out = json.loads(w.daemon_json_effective(json.dumps(node), [B]))
        self.assertEqual(out, dict(node, **{"registry-mirrors": [B]}))

    def test_every_mirror_down_leaves_an_empty_list(self):
        # A SIGHUP only resets the mirrors when the key is there, empty.
        self.assertEqual(json.loads(w.daemon_json_effective('{"registry-mirrors": ["x"]}', []))["registry-mirrors"], [])

    def test_unreadable_file_gives_nothing(self):
        self.assertIsNone(w.daemon_json_effective("{nope", []))
        self.assertIsNone(w.daemon_json_effective("[1]", []))

    def test_ours_by_desired_or_last_written_mirrors(self):
        desired = json.dumps({"registry-mirrors": [A, B], "log-driver": "json-file"})
        node = {"registry-mirrors": [A, B], "log-driver": "json-file", "runtimes": {}}
        self.assertTrue(w.daemon_json_ours(json.dumps(node), desired, None, None))
        node["registry-mirrors"] = [B]
        self.assertFalse(w.daemon_json_ours(json.dumps(node), desired, None, None))
        self.assertTrue(w.daemon_json_ours(json.dumps(node), desired, [B], None))
        node["log-driver"] = "journald"
        self.assertFalse(w.daemon_json_ours(json.dumps(node), desired, [B], None))
        text = json.dumps(node)
        self.assertTrue(w.daemon_json_ours(text, desired, [B], w.sha256(text)))


class PlanTest(unittest.TestCase):
    def test_accepts_a_plan(self):
        p = w.load_plan(json.dumps(plan([(A, A + "/v2/"), (B, B + "/v2/")], [hosts_spec(), docker_spec()])))
        self.assertEqual(len(p["files"]), 2)

    def test_refuses_broken_plans(self):
        good = plan([(A, A + "/v2/"), (B, B + "/v2/")], [hosts_spec()])
        cases = [
            ("not json", "{", "not JSON"),
            ("wrong version", json.dumps(dict(good, version=2)), "version 1"),
            ("bad timing", json.dumps(dict(good, timings=dict(TIMINGS, jitter=1))), "jitter"),
            ("zero K", json.dumps(dict(good, timings=dict(TIMINGS, failuresToDown=0))), "failuresToDown"),
            ("unknown endpoint", json.dumps(dict(good, endpoints=good["endpoints"][:1])), "not among the endpoints"),
            (
                "chunks disagree",
                json.dumps(dict(good, files=[dict(hosts_spec(), content=HOSTS + "x")])),
                "do not make up its content",
            ),
            ("bad probe url", json.dumps(dict(good, endpoints=[{"url": A, "probeUrl": "ftp://x"}])), "probeUrl"),
        ]
        for name, text, message in cases:
            with self.assertRaises(w.PlanError, msg=name) as ctx:
                w.load_plan(text)
            self.assertIn(message, str(ctx.exception), name)

    def test_arguments(self):
        self.assertEqual(w.parse_args(["--plan", "p.json", "--once"]), {"plan": "p.json", "root": "/", "once": True})
        self.assertEqual(w.parse_args(["--plan=p", "--root=/host"])["root"], "/host")
        for bad in ([], ["--root", "/"], ["--plan", "p", "--what"], ["--plan", "p", "--root", "rel"]):
            with self.assertRaises(w.PlanError):
                w.parse_args(bad)


class OutputTest(unittest.TestCase):
    def test_log_line_quotes_what_needs_it(self):
        self.assertEqual(
            w.log_line("endpoint", endpoint=A, state="down", reason='no answer "x"'),
            'watchdog: event=endpoint endpoint=%s reason="no answer \\"x\\"" state=down' % A,
        )

    def test_metrics_text_format(self):
        p = plan([(A, A + "/v2/"), ('http://q"x', "http://q/v2/")], [])
        trackers = {A: w.Tracker(0), 'http://q"x': w.Tracker(0, {"state": "down", "failovers": 2})}
        trackers[A].latency = 0.25
        text = w.render_metrics(p, trackers, {"/etc/x": {"status": "left-alone"}}, "abc", 12.5)
        lines = text.splitlines()
        self.assertIn('registry_mirrors_endpoint_up{endpoint="%s"} 1' % A, lines)
        self.assertIn('registry_mirrors_endpoint_up{endpoint="http://q\\"x"} 0', lines)
        self.assertIn('registry_mirrors_probe_latency_seconds{endpoint="%s"} 0.25' % A, lines)
        self.assertIn('registry_mirrors_probe_latency_seconds{endpoint="http://q\\"x"} NaN', lines)
        self.assertIn('registry_mirrors_failovers_total{endpoint="http://q\\"x"} 2', lines)
        self.assertIn('registry_mirrors_config_info{checksum="abc"} 1', lines)
        self.assertIn('registry_mirrors_file_left_alone{path="/etc/x"} 1', lines)
        self.assertIn("registry_mirrors_last_round_timestamp_seconds 12.5", lines)
        for line in lines:
            if not line.startswith("#"):
                self.assertRegex(line, r"^[a-z_]+(\{.*\})? (NaN|-?[0-9.e+-]+)$")


class Handler(BaseHTTPRequestHandler):
    last = None

    def do_GET(self):
        Handler.last = self.path
        code = int(self.path.split("://", 1)[-1].split("/")[1] if "://" in self.path else self.path.strip("/").split("/")[0])
        self.send_response(code)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


class Server(ThreadingMixIn, HTTPServer):
    daemon_threads = True


class ProbeTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = Server(("127.0.0.1", 0), Handler)
        threading.Thread(target=cls.server.serve_forever, daemon=True).start()
        cls.base = "http://127.0.0.1:%d" % cls.server.server_address[1]
        # A socket that accepts and never answers (a stalled mirror).
        cls.stall = socket.socket()
        cls.stall.bind(("127.0.0.1", 0))
        cls.stall.listen(16)
        # A port nothing listens on.
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        cls.refused = s.getsockname()[1]
        s.close()

    @classmethod
    def tearDownClass(cls):
        cls.server.shutdown()
        cls.server.server_close()
        cls.stall.close()

    def probe(self, url, timings=None):
        # Generous timeouts where an answer is expected: a busy machine must not turn it into a failure.
        generous = dict(TIMINGS, connectTimeoutSeconds=20, firstByteTimeoutSeconds=20)
        return w.probe({"url": url, "probeUrl": url, "insecure": False}, timings or generous, "/")

    def test_200_and_401_are_up(self):
        for code in (200, 401):
            ok, latency, error = self.probe("%s/%d/v2/" % (self.base, code))
            self.assertTrue(ok, error)
            self.assertGreaterEqual(latency, 0)

    def test_other_answers_are_down(self):
        ok, _, error = self.probe("%s/503/v2/" % self.base)
        self.assertFalse(ok)
        self.assertIn("HTTP 503", error)

    def test_refused(self):
        ok, latency, error = self.probe("http://127.0.0.1:%d/v2/" % self.refused)
        self.assertFalse(ok)
        self.assertIsNone(latency)
        self.assertIn("connect", error)

    def test_stalled(self):
        ok, _, error = self.probe("http://127.0.0.1:%d/v2/" % self.stall.getsockname()[1], TIMINGS)
        self.assertFalse(ok)
        self.assertIn("no answer within 0.5s", error)

    def test_through_an_http_proxy(self):
        # The proxy (this server) gets the absolute URI; the mirror's host need not resolve.
        env = {"HTTP_PROXY": self.base}
        url = "http://mirror.invalid:5000/401/v2/"
        ok, _, error = w.probe({"url": url, "probeUrl": url}, dict(TIMINGS, connectTimeoutSeconds=20, firstByteTimeoutSeconds=20), "/", env)
        self.assertTrue(ok, error)
        self.assertEqual(Handler.last, url)

    def test_tls_to_a_plain_server_fails(self):
        ok, _, error = self.probe("https://127.0.0.1:%d/v2/" % self.server.server_address[1])
        self.assertFalse(ok)
        self.assertTrue(error.startswith(("TLS", "connect")), error)

    def test_a_hanging_probe_counts_as_failed_and_others_go_on(self):
        prober = w.Prober(dict(TIMINGS, connectTimeoutSeconds=10, firstByteTimeoutSeconds=10), "/")
        prober.limit = 2
        original = wd_probe.probe
        release = threading.Event()

        def hang(endpoint, timings, root):
            if endpoint["url"] == "hang":
                release.wait(30)
            return original(endpoint, timings, root)

        wd_probe.probe = hang
        try:
            prober.start({"url": "hang", "probeUrl": "http://127.0.0.1:1/v2/"})
            prober.start({"url": "good", "probeUrl": "%s/200/v2/" % self.base})
            results = {}
            while len(results) < 2:
                for url, ok, _latency, error in prober.collect(0.5):
                    results[url] = (ok, error)
        finally:
            release.set()
            wd_probe.probe = original
        self.assertEqual(results["good"], (True, None))
        self.assertFalse(results["hang"][0])
        self.assertIn("in all", results["hang"][1])


class NodeTest(unittest.TestCase):
    """The watchdog on a temp node root with a fake systemctl that logs its calls."""

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="rm-watchdog-")
        self.root = os.path.join(self.dir, "root")
        self.calls = os.path.join(self.dir, "calls")
        ctl = os.path.join(self.dir, "ctl.sh")
        with open(ctl, "w") as f:
            f.write('#!/bin/sh\necho "$*" >>"%s"\n[ "$1" != is-active ] || [ -e "%s/active.$3" ]\n' % (self.calls, self.dir))
        self.ctl = ["sh", ctl]

    def tearDown(self):
        shutil.rmtree(self.dir)

    def write(self, path, text, mode=0o644):
        full = self.root + path
        os.makedirs(os.path.dirname(full), exist_ok=True)
        with open(full, "w") as f:
            f.write(text)
        os.chmod(full, mode)

    def read(self, path):
        with open(self.root + path) as f:
            return f.read()

    def dog(self, files, down=()):
        p = plan([(A, A + "/v2/"), (B, B + "/v2/")], files, metrics="/var/lib/node_exporter/textfile_collector/rm.prom")
        out = io.StringIO()
        dog = w.Watchdog(p, self.root, self.ctl, out=out, clock=lambda: 1000.0)
        for url in down:
            dog.trackers[url].state = "down"
        return dog, out

    def ctl_calls(self):
        if not os.path.exists(self.calls):
            return []
        with open(self.calls) as f:
            return f.read().split("\n")[:-1]

    def test_rewrites_hosts_toml_keeping_mode_and_restores_it(self):
        path = hosts_spec()["path"]
        self.write(path, HOSTS, 0o600)
        dog, out = self.dog([hosts_spec()], down=[A])
        self.assertTrue(dog.reconcile())
        self.assertEqual(self.read(path), w.assemble(HEADER, HOSTS_CHUNKS, {A}))
        self.assertEqual(stat.S_IMODE(os.stat(self.root + path).st_mode), 0o600)
        self.assertIn("event=write", out.getvalue())
        self.assertEqual(os.listdir(os.path.dirname(self.root + path)), ["hosts.toml"])
        dog.trackers[A].state = "up"
        self.assertTrue(dog.reconcile())
        self.assertEqual(self.read(path), HOSTS)
        self.assertEqual(self.ctl_calls(), [])

    def test_writes_through_a_symlinked_hosts_toml_and_the_link_stays(self):
        path = hosts_spec()["path"]
        self.write("/etc/own/docker.io.toml", HOSTS)
        os.makedirs(os.path.dirname(self.root + path), exist_ok=True)
        os.symlink("/etc/own/docker.io.toml", self.root + path)  # absolute: read under the node root
        dog, out = self.dog([hosts_spec()], down=[A])
        self.assertTrue(dog.reconcile())
        self.assertTrue(os.path.islink(self.root + path))
        self.assertEqual(self.read("/etc/own/docker.io.toml"), w.assemble(HEADER, HOSTS_CHUNKS, {A}))
        dog.trackers[A].state = "up"
        self.assertTrue(dog.reconcile())
        self.assertTrue(os.path.islink(self.root + path))
        self.assertEqual(self.read("/etc/own/docker.io.toml"), HOSTS)

    def test_an_ecr_template_beside_a_linked_hosts_toml_is_found_beside_the_target(self):
        link = "/etc/containerd/certs.d/docker.io/hosts.toml"
        self.write("/etc/own/hosts.toml" + ".registry-mirrors.template", HOSTS)
        os.makedirs(os.path.dirname(self.root + link), exist_ok=True)
        os.symlink("../../../own/hosts.toml", self.root + link)  # relative
        self.assertEqual(
            wd_files.through_links(self.root, self.root + link + ".registry-mirrors.template"),
            self.root + "/etc/own/hosts.toml.registry-mirrors.template",
        )

    def test_leaves_a_hand_edited_file_alone_and_says_so_once(self):
        path = hosts_spec()["path"]
        self.write(path, HOSTS + "# mine\n")
        dog, out = self.dog([hosts_spec()], down=[A])
        dog.reconcile()
        dog.reconcile()
        self.assertEqual(self.read(path), HOSTS + "# mine\n")
        self.assertEqual(out.getvalue().count("event=left-alone"), 1)
        self.assertEqual(dog.files_status[path]["status"], "left-alone")

    def test_a_file_it_wrote_stays_ours_across_restarts(self):
        path = hosts_spec()["path"]
        self.write(path, HOSTS)
        dog, _ = self.dog([hosts_spec()], down=[A, B])
        dog.reconcile()
        dog.save()
        again, out = self.dog([hosts_spec()])
        self.assertEqual(again.trackers[A].state, "down")
        again.trackers[A].state = again.trackers[B].state = "up"
        again.reconcile()
        self.assertEqual(self.read(path), HOSTS)
        self.assertNotIn("left-alone", out.getvalue())

    def test_daemon_json_keeps_other_keys_and_reloads_only_when_active(self):
        node = {"registry-mirrors": [A, B], "runtimes": {"nvidia": {"path": "nvidia-container-runtime"}}, "debug": True}
        self.write("/etc/docker/daemon.json", json.dumps(node, indent=2, sort_keys=True) + "\n")
        dog, out = self.dog([docker_spec()], down=[A])
        self.assertTrue(dog.reconcile())
        self.assertEqual(json.loads(self.read("/etc/docker/daemon.json")), dict(node, **{"registry-mirrors": [B]}))
        self.assertEqual(self.ctl_calls(), ["is-active --quiet docker"])
        self.assertIn("result=skipped", out.getvalue())
        open(os.path.join(self.dir, "active.docker"), "w").close()
        dog.trackers[A].state = "up"
        self.assertTrue(dog.reconcile())
        self.assertEqual(json.loads(self.read("/etc/docker/daemon.json")), node)
        self.assertEqual(self.ctl_calls()[1:], ["is-active --quiet docker", "reload docker"])
        self.assertNotIn("restart", " ".join(self.ctl_calls()))

    def test_a_failed_reload_is_retried(self):
        self.write("/etc/docker/daemon.json", DAEMON_DESIRED)
        open(os.path.join(self.dir, "active.docker"), "w").close()
        dog, _ = self.dog([docker_spec()], down=[A])
        dog.ctl = ["sh", "-c", 'echo "$*" >>"%s"; [ "$1" = is-active ]' % self.calls, "ctl"]
        self.assertFalse(dog.reconcile())
        self.assertEqual(dog.pending_reload, {"docker"})
        dog.ctl = self.ctl
        self.assertTrue(dog.reconcile())
        self.assertEqual(dog.pending_reload, set())

    def test_waits_while_the_apply_script_holds_the_lock(self):
        path = hosts_spec()["path"]
        self.write(path, HOSTS)
        lock = self.root + "/etc/containerd/.registry-mirrors.lock"
        fd = os.open(lock, os.O_WRONLY | os.O_CREAT, 0o644)
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            dog, out = self.dog([hosts_spec()], down=[A])
            self.assertTrue(dog.reconcile())
            self.assertEqual(self.read(path), HOSTS)
            self.assertIn("event=busy", out.getvalue())
        finally:
            os.close(fd)
        dog.reconcile()
        self.assertEqual(self.read(path), w.assemble(HEADER, HOSTS_CHUNKS, {A}))
        self.assertFalse(os.path.exists(lock))

    def test_missing_file_is_reported_not_created(self):
        dog, out = self.dog([hosts_spec()], down=[A])
        self.assertTrue(dog.reconcile())
        self.assertFalse(os.path.exists(self.root + hosts_spec()["path"]))
        self.assertIn("event=left-alone", out.getvalue())

    def test_report_only_files_get_a_line_on_a_change(self):
        report = {"path": "/etc/rancher/k3s/registries.yaml", "runtime": "k3s", "format": "k3s-registries", "action": "report", "endpoints": [A]}
        dog, out = self.dog([report])
        dog.handle_result(A, False, None, "refused")
        dog.handle_result(A, False, None, "refused")
        self.assertIn("event=report", out.getvalue())
        self.assertIn("file=/etc/rancher/k3s/registries.yaml", out.getvalue())
        dog.reconcile()
        self.assertEqual(dog.files_status["/etc/rancher/k3s/registries.yaml"]["listsDown"], [A])

    def test_status_and_metrics_files(self):
        self.write(hosts_spec()["path"], HOSTS)
        dog, _ = self.dog([hosts_spec()], down=[B])
        dog.trackers[B].error = "no answer within 5s"
        dog.reconcile()
        dog.save()
        status = json.loads(self.read("/var/lib/registry-mirrors/watchdog/status.json"))
        self.assertEqual(status["endpoints"][B]["state"], "down")
        self.assertEqual(status["endpoints"][B]["lastError"], "no answer within 5s")
        self.assertEqual(status["files"][hosts_spec()["path"]], {"runtime": "containerd", "status": "effective", "without": [B]})
        metrics = self.read("/var/lib/node_exporter/textfile_collector/rm.prom")
        self.assertIn('registry_mirrors_endpoint_up{endpoint="%s"} 0' % B, metrics)
        self.assertIn('registry_mirrors_config_info{checksum="%s"}' % dog.config_checksum(), metrics)


class OnceTest(unittest.TestCase):
    def test_two_rounds_take_a_refusing_endpoint_out(self):
        d = tempfile.mkdtemp(prefix="rm-watchdog-once-")
        try:
            root = os.path.join(d, "root")
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
            s.close()
            dead = "http://127.0.0.1:%d" % port
            chunks = [
                {"text": 'server = "https://registry-1.docker.io"'},
                {"text": '[host."%s"]' % dead, "endpoint": dead},
                {"text": "[host]", "whenAllDown": [dead]},
            ]
            spec = dict(hosts_spec(), endpoints=[dead], chunks=chunks, content=w.assemble(HEADER, chunks, set()))
            p = plan([(dead, dead + "/v2/")], [spec], metrics="/m/rm.prom")
            path = root + spec["path"]
            os.makedirs(os.path.dirname(path))
            with open(path, "w") as f:
                f.write(spec["content"])
            plan_file = os.path.join(d, "plan.json")
            with open(plan_file, "w") as f:
                json.dump(p, f)
            args = ["--plan", plan_file, "--root", root, "--once"]
            self.assertEqual(w.main(args), 0)
            with open(path) as f:
                self.assertEqual(f.read(), spec["content"])
            self.assertEqual(w.main(args), 0)
            with open(path) as f:
                self.assertEqual(f.read(), w.assemble(HEADER, chunks, {dead}))
            self.assertTrue(os.path.exists(root + "/m/rm.prom"))
            # A metrics path under a plain file cannot be written: the round says so in its exit code.
            with open(plan_file, "w") as f:
                json.dump(dict(p, metricsFile="/m/rm.prom/x.prom"), f)
            self.assertEqual(w.main(args), 1)
        finally:
            shutil.rmtree(d)

    def test_bad_plan_exits_2(self):
        self.assertEqual(w.main(["--plan", "/nonexistent/plan.json", "--once"]), 2)


if __name__ == "__main__":
    unittest.main()
