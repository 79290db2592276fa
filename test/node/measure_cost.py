"""Measures the watchdog's CPU time and memory on this machine, with N loopback endpoints that answer 401.

Usage: python3 test/node/measure_cost.py [--endpoints 10] [--seconds 120] [--interval 1] [--fail 0]
Runs components/core/node/watchdog.py on a temp node root (a hosts.toml, a CRI-O drop-in and a daemon.json listing
every endpoint) for SECONDS with the given probe interval, then prints its CPU seconds (user + system, from
/proc/PID/stat), its peak and final RSS, the probes it made, and the CPU per probe. `--fail K` makes the first K
endpoints refuse connections (they go down and are probed with backoff). Prints figures, asserts nothing.
"""

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer
from socketserver import ThreadingMixIn

HERE = os.path.dirname(os.path.abspath(__file__))
WATCHDOG = os.path.join(HERE, "..", "..", "components", "core", "node", "watchdog.py")
HEADER = "# Written by registry-mirrors; edit the mirror policy, not this file.\n"
COUNT = {"n": 0}


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        COUNT["n"] += 1
        self.send_response(401)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


class Server(ThreadingMixIn, HTTPServer):
    daemon_threads = True


def arg(name, default):
    if name in sys.argv:
        return float(sys.argv[sys.argv.index(name) + 1])
    return default


def main():
    n = int(arg("--endpoints", 10))
    seconds = arg("--seconds", 120)
    interval = arg("--interval", 1)
    failing = int(arg("--fail", 0))
    urls = []
    servers = []
    for i in range(n):
        if i < failing:
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            urls.append("http://127.0.0.1:%d" % s.getsockname()[1])
            s.close()
            continue
        srv = Server(("127.0.0.1", 0), Handler)
        threading.Thread(target=srv.serve_forever, daemon=True).start()
        servers.append(srv)
        urls.append("http://127.0.0.1:%d" % srv.server_address[1])
    hosts_chunks = [{"text": 'server = "https://registry-1.docker.io"'}] + [
        {"text": '[host."%s"]\ncapabilities = [ "pull", "resolve" ]' % u, "endpoint": u} for u in urls
    ]
    hosts_chunks.append({"text": "[host]", "whenAllDown": urls})
    conf_chunks = [{"text": '[[registry]]\nprefix = "docker.io"\nlocation = "docker.io"'}] + [
        {"text": '[[registry.mirror]]\nlocation = "%s"\ninsecure = true' % u[7:], "endpoint": u} for u in urls
    ]

    def content(chunks):
        kept = [c["text"] for c in chunks if "whenAllDown" not in c]
        return HEADER + "\n\n".join(kept) + "\n"

    daemon = json.dumps({"registry-mirrors": urls}, indent=2) + "\n"
    files = [
        {
            "path": "/etc/containerd/certs.d/docker.io/hosts.toml",
            "runtime": "containerd",
            "format": "containerd-hosts",
            "action": "rewrite",
            "endpoints": urls,
            "prefix": HEADER,
            "chunks": hosts_chunks,
            "content": content(hosts_chunks),
            "lock": "/etc/containerd",
        },
        {
            "path": "/etc/containers/registries.conf.d/50-registry-mirrors.conf",
            "runtime": "crio/podman",
            "format": "registries-conf",
            "action": "rewrite",
            "endpoints": urls,
            "prefix": HEADER,
            "chunks": conf_chunks,
            "content": content(conf_chunks),
            "lock": "/etc/containers",
            "reload": "crio",
        },
        {
            "path": "/etc/docker/daemon.json",
            "runtime": "docker",
            "format": "docker-daemon-json",
            "action": "rewrite",
            "endpoints": urls,
            "mirrors": urls,
            "content": daemon,
            "lock": "/etc/docker",
            "reload": "docker",
        },
    ]
    plan = {
        "version": 1,
        "endpoints": [{"url": u, "probeUrl": u + "/v2/", "insecure": False, "files": [], "registries": ["docker.io"]} for u in urls],
        "files": files,
        "timings": {
            "intervalSeconds": interval,
            "suspectIntervalSeconds": min(2, interval),
            "maxBackoffSeconds": max(240, interval),
            "connectTimeoutSeconds": 3,
            "firstByteTimeoutSeconds": 5,
            "failuresToDown": 2,
            "successesToUp": 3,
            "jitter": 0.2,
        },
        "stateDir": "/var/lib/registry-mirrors/watchdog",
        "metricsFile": "/var/lib/node_exporter/textfile_collector/registry_mirrors.prom",
    }
    d = tempfile.mkdtemp(prefix="rm-watchdog-cost-")
    try:
        root = os.path.join(d, "root")
        for f in files:
            path = root + f["path"]
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "w") as out:
                out.write(f["content"])
        with open(os.path.join(d, "plan.json"), "w") as out:
            json.dump(plan, out)
        env = dict(os.environ, RUNTIME_CTL="false", PYTHONDONTWRITEBYTECODE="1")
        log = open(os.path.join(d, "log"), "w")
        p = subprocess.Popen(
            [sys.executable, WATCHDOG, "--plan", os.path.join(d, "plan.json"), "--root", root], stdout=log, env=env
        )
        tick = os.sysconf("SC_CLK_TCK")
        time.sleep(seconds)
        with open("/proc/%d/stat" % p.pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        cpu = (int(fields[11]) + int(fields[12])) / tick
        status = {}
        with open("/proc/%d/status" % p.pid) as f:
            for line in f:
                key, _, value = line.partition(":")
                status[key] = value.strip()
        p.terminate()
        p.wait(30)
        log.close()
        probes = COUNT["n"]
        print(
            json.dumps(
                {
                    "python": sys.version.split()[0],
                    "endpoints": n,
                    "failing": failing,
                    "intervalSeconds": interval,
                    "seconds": seconds,
                    "cpuSeconds": cpu,
                    "answeredProbes": probes,
                    "cpuMillisecondsPerAnsweredProbe": round(1000 * cpu / probes, 3) if probes else None,
                    "rssPeak": status.get("VmHWM"),
                    "rssNow": status.get("VmRSS"),
                    "threads": status.get("Threads"),
                },
                indent=2,
            )
        )
    finally:
        for srv in servers:
            srv.shutdown()
        shutil.rmtree(d)


if __name__ == "__main__":
    main()
