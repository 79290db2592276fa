# The pull-secret refresher's (pull-secret-refresher.py) cloud calls: the pod's credentials and one registry token,
# AWS (IRSA or EKS Pod Identity, ECR) and Alibaba Cloud (RRSA, ACR Enterprise Edition).

import base64
import hashlib
import hmac
import json
import time
import urllib.parse
import uuid
import xml.etree.ElementTree as ElementTree

from refresher_common import RefreshError, error_summary, http, iso, percent, read_file


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
