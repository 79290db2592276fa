# The pull-secret refresher's (pull-secret-refresher.py) Kubernetes side: the API through the pod's service account,
# and the JSON patch of one pull secret (its .dockerconfigjson and token annotations).

import base64
import json
import os
import ssl

from refresher_common import RefreshError, error_summary, http, iso, parse_iso, percent, read_file

SERVICE_ACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"
DATA_KEY = ".dockerconfigjson"
STATUS_ANNOTATION = "registry-mirrors.dev/token-status"
EXPIRES_ANNOTATION = "registry-mirrors.dev/expires-at"
STALE_ANNOTATION = "registry-mirrors.dev/stale"
# Named in the secret's managedFields, so `kubectl get secret --show-managed-fields` shows who wrote the data.
FIELD_MANAGER = "registry-mirrors-refresher"


class Kubernetes:
    """The API server through the pod's service account (token and CA re-read every run: kubelet rotates them)."""

    def __init__(self, env):
        directory = env.get("REFRESHER_SERVICE_ACCOUNT_DIR", SERVICE_ACCOUNT_DIR)
        host, port = env.get("KUBERNETES_SERVICE_HOST"), env.get("KUBERNETES_SERVICE_PORT", "443")
        if not host:
            raise RefreshError("KUBERNETES_SERVICE_HOST is not set: the refresher runs inside the cluster")
        self.base = "https://%s:%s" % ("[%s]" % host if ":" in host else host, port)
        self.token = read_file(os.path.join(directory, "token"), "the service account token")
        self.context = ssl.create_default_context(cafile=os.path.join(directory, "ca.crt"))

    def request(self, method, path, body=None, content_type=None):
        headers = {"Authorization": "Bearer " + self.token, "Accept": "application/json"}
        if content_type:
            headers["Content-Type"] = content_type
        data = json.dumps(body).encode() if body is not None else None
        return http(method, self.base + path, headers, data, self.context)


def secret_path(namespace, name):
    return "/api/v1/namespaces/%s/secrets/%s" % (percent(namespace), percent(name))


def pointer(key):
    return key.replace("~", "~0").replace("/", "~1")


def docker_config(entries):
    """The `.dockerconfigjson` document, keys sorted, compact (the same bytes as the component's own rendering)."""
    auths = {}
    for key in sorted(entries):
        e = entries[key]
        auth = base64.b64encode(("%s:%s" % (e["username"], e["password"])).encode()).decode()
        auths[key] = {"username": e["username"], "password": e["password"], "auth": auth}
    return json.dumps({"auths": auths}, separators=(",", ":"), ensure_ascii=False)


def read_secret_state(secret):
    """(auth entries, token status by registry, annotations) of a secret as read from the API."""
    data = (secret.get("data") or {}).get(DATA_KEY, "")
    try:
        auths = json.loads(base64.b64decode(data).decode("utf-8")).get("auths") or {}
    except ValueError:
        auths = {}
    annotations = (secret.get("metadata") or {}).get("annotations") or {}
    try:
        status = json.loads(annotations.get(STATUS_ANNOTATION, "{}"))
    except ValueError:
        status = {}
    return auths, status if isinstance(status, dict) else {}, annotations


def secret_patch(secret, config, fresh, now):
    """The JSON patch for one secret, and the registries whose kept token is older than its safe age."""
    auths, status, annotations = read_secret_state(secret)
    entries, new_status, stale = {}, {}, []
    for registry in config["registries"]:
        key = registry["key"]
        if key in fresh:
            entries[key] = fresh[key]
            new_status[key] = {"refreshedAt": iso(now), "expiresAt": iso(fresh[key]["expiresAt"])}
            continue
        kept = auths.get(key)
        if kept and kept.get("username") and kept.get("password"):
            entries[key] = {"username": kept["username"], "password": kept["password"]}
        if key in status and key in entries:
            new_status[key] = status[key]
        refreshed = new_status.get(key, {}).get("refreshedAt")
        age = now - parse_iso(refreshed) if refreshed else None
        if age is None or age > registry["safeAgeSeconds"]:
            stale.append((registry, age, new_status.get(key, {}).get("expiresAt", "")))
    ops = [{"op": "test", "path": "/metadata/resourceVersion", "value": secret["metadata"]["resourceVersion"]}]
    document = base64.b64encode(docker_config(entries).encode()).decode()
    if secret.get("data") is None:
        ops.append({"op": "add", "path": "/data", "value": {DATA_KEY: document}})
    else:
        ops.append({"op": "add", "path": "/data/" + pointer(DATA_KEY), "value": document})
    wanted = {STATUS_ANNOTATION: json.dumps(new_status, separators=(",", ":"), sort_keys=True)}
    expiries = [parse_iso(s["expiresAt"]) for s in new_status.values() if s.get("expiresAt")]
    if expiries:
        wanted[EXPIRES_ANNOTATION] = iso(min(expiries))
    if stale:
        wanted[STALE_ANNOTATION] = ",".join(r["key"] for r, _, _ in stale)
    if (secret.get("metadata") or {}).get("annotations") is None:
        ops.append({"op": "add", "path": "/metadata/annotations", "value": wanted})
    else:
        for key in sorted(wanted):
            ops.append({"op": "add", "path": "/metadata/annotations/" + pointer(key), "value": wanted[key]})
        for key in (EXPIRES_ANNOTATION, STALE_ANNOTATION):
            if key in annotations and key not in wanted:
                ops.append({"op": "remove", "path": "/metadata/annotations/" + pointer(key)})
    return ops, stale


def update_secret(kube, namespace, config, fresh, now):
    """Gets and JSON-patches one secret (one retry when it changed in between); returns the stale registries."""
    name = config["secretName"]
    for attempt in (1, 2):
        status, body = kube.request("GET", secret_path(namespace, name))
        if status == 404:
            raise RefreshError("secret %s/%s not found: pulumi up creates it, the refresher never does" % (namespace, name))
        if status != 200:
            raise RefreshError("GET secret %s/%s: %s" % (namespace, name, error_summary(status, body)))
        ops, stale = secret_patch(json.loads(body), config, fresh, now)
        path = secret_path(namespace, name) + "?fieldManager=" + FIELD_MANAGER
        status, body = kube.request("PATCH", path, ops, "application/json-patch+json")
        if status == 200:
            return stale
        if status not in (409, 422) or attempt == 2:
            raise RefreshError("PATCH secret %s/%s: %s" % (namespace, name, error_summary(status, body)))
    return []
