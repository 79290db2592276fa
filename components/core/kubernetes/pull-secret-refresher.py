#!/usr/bin/env python3
"""Renews the registry tokens of a RegistryCredentialSecret inside the cluster (Python 3.8+, standard library only).

Usage: pull-secret-refresher.py CONFIG.json     (run by the component's CronJob; the config sits beside this script)

One run: get the pod's cloud credentials (AWS: IRSA web identity or EKS Pod Identity; Alibaba Cloud: RRSA OIDC),
read one token per registry (ECR GetAuthorizationToken, ACR EE GetAuthorizationToken), then JSON-patch the
`.dockerconfigjson` of the pull secret in every target namespace. It only gets and patches the secrets named in
the config (it never creates or lists anything). A registry whose token cannot be read keeps its previous entry
in the secret. Every failure is one logfmt line on stderr (`level=error event=...`); a kept token older than its
safe age adds a `level=warning event=token_stale` line and the `registry-mirrors.dev/stale` annotation. Tokens
and keys are never printed. Exit status: 0 when every token was renewed and every secret patched, 1 otherwise.
"""

import base64
import datetime
import hashlib
import hmac
import json
import os
import ssl
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
import xml.etree.ElementTree as ElementTree

SERVICE_ACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"
DATA_KEY = ".dockerconfigjson"
STATUS_ANNOTATION = "registry-mirrors.dev/token-status"
EXPIRES_ANNOTATION = "registry-mirrors.dev/expires-at"
STALE_ANNOTATION = "registry-mirrors.dev/stale"
HTTP_TIMEOUT = 15
USER_AGENT = "registry-mirrors-pull-secret-refresher/1"
# Named in the secret's managedFields, so `kubectl get secret --show-managed-fields` shows who wrote the data.
FIELD_MANAGER = "registry-mirrors-refresher"

DEFAULT_ENDPOINTS = {
    "awsSts": "https://sts.{region}.{domain}",
    "ecr": "https://api.ecr.{region}.{domain}",
    "alicloudSts": "https://sts.{region}.aliyuncs.com",
    "acr": "https://cr.{region}.aliyuncs.com",
}


class RefreshError(Exception):
    """A failure with a message safe to print (no token, no key)."""


def log(level, event, **fields):
    parts = ["level=%s" % level, "event=%s" % event]
    for key, value in fields.items():
        text = str(value)
        if text == "" or any(c in text for c in ' "=\\'):
            text = '"%s"' % text.replace("\\", "\\\\").replace('"', '\\"')
        parts.append("%s=%s" % (key, text))
    sys.stderr.write(" ".join(parts) + "\n")
    sys.stderr.flush()


def iso(epoch):
    return datetime.datetime.fromtimestamp(int(epoch), datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_iso(text):
    return datetime.datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.timezone.utc).timestamp()


# ---------------------------------------------------------------- HTTP


def http(method, url, headers=None, body=None, context=None):
    """Returns (status, body bytes); an HTTP error status is returned, a transport error raises RefreshError."""
    request = urllib.request.Request(url, data=body, method=method, headers=dict(headers or {}))
    request.add_header("User-Agent", USER_AGENT)
    try:
        with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT, context=context) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()
    except (urllib.error.URLError, OSError) as error:
        reason = getattr(error, "reason", error)
        raise RefreshError("cannot reach %s: %s" % (urllib.parse.urlsplit(url).netloc, reason)) from None


def error_summary(status, body):
    """`HTTP 403 AccessDenied: message` from an AWS (JSON or XML), Alibaba Cloud or Kubernetes error body."""
    code, message = "", ""
    text = body.decode("utf-8", "replace")
    try:
        doc = json.loads(text)
        if isinstance(doc, dict):
            code = str(doc.get("__type") or doc.get("Code") or doc.get("reason") or "")
            message = str(doc.get("message") or doc.get("Message") or "")
    except ValueError:
        try:
            root = ElementTree.fromstring(text)
            for element in root.iter():
                tag = element.tag.rsplit("}", 1)[-1]
                if tag == "Code" and not code:
                    code = (element.text or "").strip()
                elif tag == "Message" and not message:
                    message = (element.text or "").strip()
        except ElementTree.ParseError:
            pass
    summary = "HTTP %d" % status
    if code:
        summary += " " + code.rsplit("#", 1)[-1]
    if message:
        summary += ": " + " ".join(message.split())[:200]
    return summary


# ---------------------------------------------------------------- AWS


def sigv4_headers(method, url, region, service, credentials, body, amz_date, headers):
    """The headers of a SigV4-signed request: `headers` plus Host, X-Amz-Date, the session token and Authorization."""
    parts = urllib.parse.urlsplit(url)
    signed = {k.lower(): " ".join(str(v).split()) for k, v in headers.items()}
    signed["host"] = parts.netloc
    signed["x-amz-date"] = amz_date
    if credentials.get("sessionToken"):
        signed["x-amz-security-token"] = credentials["sessionToken"]
    names = sorted(signed)
    query = urllib.parse.parse_qsl(parts.query, keep_blank_values=True)
    canonical_query = "&".join(
        "%s=%s" % (urllib.parse.quote(k, safe="-_.~"), urllib.parse.quote(v, safe="-_.~")) for k, v in sorted(query)
    )
    canonical = "\n".join(
        [
            method,
            urllib.parse.quote(parts.path or "/", safe="/-_.~"),
            canonical_query,
            "".join("%s:%s\n" % (n, signed[n]) for n in names),
            ";".join(names),
            hashlib.sha256(body).hexdigest(),
        ]
    )
    day = amz_date[:8]
    scope = "%s/%s/%s/aws4_request" % (day, region, service)
    to_sign = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(canonical.encode()).hexdigest()])
    key = ("AWS4" + credentials["secretAccessKey"]).encode()
    for part in (day, region, service, "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    out = {k: v for k, v in headers.items()}
    out["X-Amz-Date"] = amz_date
    if credentials.get("sessionToken"):
        out["X-Amz-Security-Token"] = credentials["sessionToken"]
    out["Authorization"] = "AWS4-HMAC-SHA256 Credential=%s/%s, SignedHeaders=%s, Signature=%s" % (
        credentials["accessKeyId"],
        scope,
        ";".join(names),
        signature,
    )
    return out


def read_file(path, what):
    try:
        with open(path, encoding="utf-8") as f:
            return f.read().strip()
    except OSError as error:
        raise RefreshError("cannot read %s %s: %s" % (what, path, error.strerror)) from None


def aws_credentials(env, endpoint):
    """Temporary AWS credentials of the pod: EKS Pod Identity (container credentials) or IRSA (web identity)."""
    if env.get("AWS_CONTAINER_CREDENTIALS_FULL_URI"):
        token = read_file(env.get("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", ""), "the EKS Pod Identity token")
        status, body = http("GET", env["AWS_CONTAINER_CREDENTIALS_FULL_URI"], {"Authorization": token})
        if status != 200:
            raise RefreshError("EKS Pod Identity credentials: " + error_summary(status, body))
        doc = json.loads(body)
        return {"accessKeyId": doc["AccessKeyId"], "secretAccessKey": doc["SecretAccessKey"], "sessionToken": doc["Token"]}
    if env.get("AWS_ROLE_ARN") and env.get("AWS_WEB_IDENTITY_TOKEN_FILE"):
        token = read_file(env["AWS_WEB_IDENTITY_TOKEN_FILE"], "the IRSA web identity token")
        form = urllib.parse.urlencode(
            {
                "Action": "AssumeRoleWithWebIdentity",
                "Version": "2011-06-15",
                "RoleArn": env["AWS_ROLE_ARN"],
                "RoleSessionName": "registry-mirrors-refresher",
                "WebIdentityToken": token,
            }
        ).encode()
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        status, body = http("POST", endpoint.rstrip("/") + "/", headers, form)
        if status != 200:
            raise RefreshError("STS AssumeRoleWithWebIdentity: " + error_summary(status, body))
        found = {}
        for element in ElementTree.fromstring(body).iter():
            found[element.tag.rsplit("}", 1)[-1]] = (element.text or "").strip()
        if not found.get("AccessKeyId") or not found.get("SecretAccessKey"):
            raise RefreshError("STS AssumeRoleWithWebIdentity: no credentials in the answer")
        return {
            "accessKeyId": found["AccessKeyId"],
            "secretAccessKey": found["SecretAccessKey"],
            "sessionToken": found.get("SessionToken", ""),
        }
    raise RefreshError(
        "no AWS identity in the pod (neither AWS_CONTAINER_CREDENTIALS_FULL_URI nor AWS_ROLE_ARN with "
        "AWS_WEB_IDENTITY_TOKEN_FILE): give refresher.aws an IRSA role or an EKS Pod Identity association"
    )


def ecr_token(registry, credentials, endpoint, now):
    body = json.dumps({"registryIds": [registry["registryId"]]}).encode()
    headers = {
        "Content-Type": "application/x-amz-json-1.1",
        "X-Amz-Target": "AmazonEC2ContainerRegistry_V20150921.GetAuthorizationToken",
    }
    amz_date = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(now))
    url = endpoint.rstrip("/") + "/"
    signed = sigv4_headers("POST", url, registry["region"], "ecr", credentials, body, amz_date, headers)
    status, answer = http("POST", url, signed, body)
    if status != 200:
        raise RefreshError("ECR GetAuthorizationToken: " + error_summary(status, answer))
    data = (json.loads(answer).get("authorizationData") or [{}])[0]
    decoded = base64.b64decode(data.get("authorizationToken", "")).decode("utf-8", "replace")
    username, _, password = decoded.partition(":")
    if not username or not password:
        raise RefreshError("ECR GetAuthorizationToken: no token in the answer")
    return {"username": username, "password": password, "expiresAt": float(data.get("expiresAt") or now + 43200)}


# ---------------------------------------------------------------- Alibaba Cloud


def percent(text):
    return urllib.parse.quote(str(text), safe="-_.~")


def rpc_signature(method, params, secret):
    """Alibaba Cloud RPC signature (HMAC-SHA1, SignatureVersion 1.0) of the sorted parameters."""
    query = "&".join("%s=%s" % (percent(k), percent(params[k])) for k in sorted(params))
    to_sign = "%s&%s&%s" % (method, percent("/"), percent(query))
    digest = hmac.new((secret + "&").encode(), to_sign.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def alicloud_credentials(env, endpoint, now):
    """Temporary Alibaba Cloud credentials of the pod through RRSA (AssumeRoleWithOIDC; the call is not signed)."""
    role, provider, token_file = (
        env.get("ALIBABA_CLOUD_ROLE_ARN"),
        env.get("ALIBABA_CLOUD_OIDC_PROVIDER_ARN"),
        env.get("ALIBABA_CLOUD_OIDC_TOKEN_FILE"),
    )
    if not (role and provider and token_file):
        raise RefreshError(
            "no Alibaba Cloud identity in the pod (ALIBABA_CLOUD_ROLE_ARN, ALIBABA_CLOUD_OIDC_PROVIDER_ARN and "
            "ALIBABA_CLOUD_OIDC_TOKEN_FILE): give refresher.alicloud an RRSA role"
        )
    form = urllib.parse.urlencode(
        {
            "Action": "AssumeRoleWithOIDC",
            "Format": "JSON",
            "Version": "2015-04-01",
            "Timestamp": iso(now),
            "RoleArn": role,
            "OIDCProviderArn": provider,
            "OIDCToken": read_file(token_file, "the RRSA OIDC token"),
            "RoleSessionName": "registry-mirrors-refresher",
        }
    ).encode()
    status, body = http("POST", endpoint.rstrip("/") + "/", {"Content-Type": "application/x-www-form-urlencoded"}, form)
    if status != 200:
        raise RefreshError("STS AssumeRoleWithOIDC: " + error_summary(status, body))
    found = json.loads(body).get("Credentials") or {}
    if not found.get("AccessKeyId") or not found.get("AccessKeySecret"):
        raise RefreshError("STS AssumeRoleWithOIDC: no credentials in the answer")
    return {
        "accessKeyId": found["AccessKeyId"],
        "secretAccessKey": found["AccessKeySecret"],
        "sessionToken": found.get("SecurityToken", ""),
    }


def acr_token(registry, credentials, endpoint, now):
    params = {
        "Action": "GetAuthorizationToken",
        "InstanceId": registry["instanceId"],
        "Format": "JSON",
        "Version": "2018-12-01",
        "AccessKeyId": credentials["accessKeyId"],
        "SignatureMethod": "HMAC-SHA1",
        "SignatureVersion": "1.0",
        "SignatureNonce": uuid.uuid4().hex,
        "Timestamp": iso(now),
        "RegionId": registry["region"],
    }
    if credentials.get("sessionToken"):
        params["SecurityToken"] = credentials["sessionToken"]
    params["Signature"] = rpc_signature("GET", params, credentials["secretAccessKey"])
    url = endpoint.rstrip("/") + "/?" + "&".join("%s=%s" % (percent(k), percent(v)) for k, v in sorted(params.items()))
    status, answer = http("GET", url)
    if status != 200:
        raise RefreshError("ACR GetAuthorizationToken: " + error_summary(status, answer))
    doc = json.loads(answer)
    if doc.get("IsSuccess") is False or not doc.get("TempUsername") or not doc.get("AuthorizationToken"):
        raise RefreshError("ACR GetAuthorizationToken: no token in the answer (code %s)" % doc.get("Code", "unknown"))
    expires = doc.get("ExpireTime")
    return {
        "username": doc["TempUsername"],
        "password": doc["AuthorizationToken"],
        "expiresAt": float(expires) / 1000 if expires else now + 3600,
    }


# ---------------------------------------------------------------- Kubernetes


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


# ---------------------------------------------------------------- one run


def endpoint_of(config, name, **values):
    return (config.get("endpoints") or {}).get(name, DEFAULT_ENDPOINTS[name]).format(**values)


def run(config, env, now):
    """One refresh; returns the exit status. `now` is the current time in epoch seconds."""
    failures = 0
    fresh = {}
    identities = {}
    for registry in config["registries"]:
        key, source = registry["key"], registry["source"]
        try:
            if source == "ecr":
                if "aws" not in identities:
                    sts = endpoint_of(config, "awsSts", region=registry["region"], domain=registry["domain"])
                    identities["aws"] = aws_credentials(env, sts)
                ecr = endpoint_of(config, "ecr", region=registry["region"], domain=registry["domain"])
                fresh[key] = ecr_token(registry, identities["aws"], ecr, now)
            elif source == "acr":
                if "alicloud" not in identities:
                    sts = endpoint_of(config, "alicloudSts", region=registry["region"])
                    identities["alicloud"] = alicloud_credentials(env, sts, now)
                acr = endpoint_of(config, "acr", region=registry["region"])
                fresh[key] = acr_token(registry, identities["alicloud"], acr, now)
            else:
                raise RefreshError("unknown token source %r" % source)
        except (RefreshError, ValueError, KeyError) as error:
            failures += 1
            reason = str(error) if isinstance(error, RefreshError) else "unreadable answer (%s)" % type(error).__name__
            log("error", "token_failed", registry=key, source=source, error=reason, kept="previous token")
    try:
        kube = Kubernetes(env)
    except RefreshError as error:
        log("error", "kubernetes_failed", error=str(error))
        return 1
    for namespace in config["namespaces"]:
        try:
            stale = update_secret(kube, namespace, config, fresh, now)
        except (RefreshError, ValueError, KeyError) as error:
            failures += 1
            reason = str(error) if isinstance(error, RefreshError) else "unreadable answer (%s)" % type(error).__name__
            log("error", "secret_failed", namespace=namespace, secret=config["secretName"], error=reason)
            continue
        for registry, age, expires in stale:
            log(
                "warning",
                "token_stale",
                namespace=namespace,
                secret=config["secretName"],
                registry=registry["key"],
                age_seconds="unknown" if age is None else int(age),
                safe_age_seconds=registry["safeAgeSeconds"],
                expires_at=expires or "unknown",
            )
    if failures == 0:
        expiry = min((t["expiresAt"] for t in fresh.values()), default=now)
        log(
            "info",
            "refreshed",
            secret=config["secretName"],
            namespaces=",".join(config["namespaces"]),
            registries=len(fresh),
            expires_at=iso(expiry),
        )
    return 1 if failures else 0


def main(argv):
    if len(argv) != 2:
        sys.stderr.write("usage: pull-secret-refresher.py CONFIG.json\n")
        return 2
    with open(argv[1], encoding="utf-8") as f:
        config = json.load(f)
    return run(config, dict(os.environ), time.time())


if __name__ == "__main__":
    sys.exit(main(sys.argv))
