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

# Its modules sit beside it (the ConfigMap's other keys): refresher_common.py (errors, logs, HTTP),
# refresher_clouds.py (AWS and Alibaba Cloud credentials and tokens), refresher_kube.py (the secrets' patches).
import json
import os
import sys
import time

# Imported without writing __pycache__ (the mounted folder is read-only; the source folder stays clean).
sys.dont_write_bytecode = True
# Beyond what this file uses, test/refresher/test_pull_secret_refresher.py reaches these names through this module.
from refresher_clouds import acr_token, alicloud_credentials, aws_credentials, ecr_token, rpc_signature, sigv4_headers
from refresher_common import RefreshError, iso, log
from refresher_kube import STATUS_ANNOTATION, Kubernetes, update_secret

DEFAULT_ENDPOINTS = {
    "awsSts": "https://sts.{region}.{domain}",
    "ecr": "https://api.ecr.{region}.{domain}",
    "alicloudSts": "https://sts.{region}.aliyuncs.com",
    "acr": "https://cr.{region}.aliyuncs.com",
}


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
