# The node watchdog's probes (watchdog.py): GET /v2/ of an endpoint, through the proxy the runtimes would use, in
# daemon threads with a deadline.

import base64
import http.client
import ipaddress
import os
import queue
import socket
import ssl
import threading
import time
from urllib.parse import unquote, urlsplit

from wd_files import node_path

MAX_HANGING = 3
UP_STATUSES = (200, 401)


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
