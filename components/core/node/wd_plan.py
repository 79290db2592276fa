# The node watchdog's plan (watchdog.py): reading and checking it, and the content it wants for each file.
# Pure: no clock, no network, no files. Tested by test/node/test_watchdog.py.

import hashlib
import json

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
