# The node watchdog's endpoint state (watchdog.py): hysteresis and probe schedule, and how the state is reported
# (log lines, status.json, metrics). Pure but for the time formatting; tested by test/node/test_watchdog.py.

import json
import time


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
