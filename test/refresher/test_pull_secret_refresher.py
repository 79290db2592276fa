"""Tests of components/core/kubernetes/pull-secret-refresher.py against fake cloud and Kubernetes endpoints.

Run: python3 -m unittest discover -s test/refresher   (test/unit/pull-secret-refresher.test.ts runs it from vitest)
Every fake is a real HTTP server on loopback (the Kubernetes API over TLS with a throw-away CA, like in a pod); the
fakes check what a real endpoint checks (signatures, session tokens, bearer token, JSON patch `test` ops) and record
every request. No test asserts a wall-clock bound: the refresher's clock is passed in.
"""

import base64
import calendar
import contextlib
import copy
import importlib.util
import io
import json
import os
import shutil
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import urllib.parse
from http.server import BaseHTTPRequestHandler, HTTPServer
from socketserver import ThreadingMixIn

HERE = os.path.dirname(os.path.abspath(__file__))
SCRIPT = os.path.join(HERE, "..", "..", "components", "core", "kubernetes", "pull-secret-refresher.py")
# Its modules, as `python3 pull-secret-refresher.py` finds them (the script's folder first on sys.path).
sys.path.insert(0, os.path.dirname(SCRIPT))
_spec = importlib.util.spec_from_file_location("pull_secret_refresher", SCRIPT)
r = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(r)

NOW = 1_800_000_000  # 2027-01-15T08:00:00Z
ECR_HOST = "123456789012.dkr.ecr.eu-west-1.amazonaws.com"
ACR_HOST = "main-registry.cn-hangzhou.cr.aliyuncs.com"
WEB_IDENTITY = "eyJhbGciOiJSUzI1NiJ9.web-identity-jwt.sig"
POD_IDENTITY = "eyJhbGciOiJSUzI1NiJ9.pod-identity-jwt.sig"
RRSA_TOKEN = "eyJhbGciOiJSUzI1NiJ9.rrsa-oidc-jwt.sig"
SA_TOKEN = "kube-sa-token-7f3a"
AWS_KEY, AWS_SECRET, AWS_SESSION = "ASIAFAKEKEY000001", "aws-secret-key-Q7x", "aws-session-token-M2p"
ALI_KEY, ALI_SECRET, ALI_SESSION = "STS.fakekey01", "ali-secret-key-W4z", "ali-security-token-K8d"
ROLE_ARN = "arn:aws:iam::123456789012:role/pull-refresher"
RAM_ROLE_ARN = "acs:ram::1234567890123456:role/pull-refresher"
OIDC_PROVIDER_ARN = "acs:ram::1234567890123456:oidc-provider/ack-rrsa-c1"
PLACEHOLDER = base64.b64encode(b'{"auths":{}}').decode()

# Every secret the fakes hand out; no log line may contain any of them.
SECRETS = [WEB_IDENTITY, POD_IDENTITY, RRSA_TOKEN, SA_TOKEN, AWS_SECRET, AWS_SESSION, ALI_SECRET, ALI_SESSION]


class Server(ThreadingMixIn, HTTPServer):
    daemon_threads = True


class Fake:
    """One loopback endpoint: `handle(method, path, headers, body)` returns (status, content type, body)."""

    def __init__(self, handle, tls=None):
        fake = self
        self.handle = handle
        self.requests = []

        class Handler(BaseHTTPRequestHandler):
            def _serve(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                fake.requests.append((self.command, self.path, dict(self.headers), body))
                status, ctype, out = fake.handle(self.command, self.path, self.headers, body)
                data = out if isinstance(out, bytes) else out.encode()
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PATCH = _serve

            def log_message(self, *args):
                pass

        self.server = Server(("127.0.0.1", 0), Handler)
        if tls:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(*tls)
            self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_address[1]
        self.url = "%s://127.0.0.1:%d" % ("https" if tls else "http", self.port)
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def xml_error(code, message):
    return "<ErrorResponse><Error><Type>Sender</Type><Code>%s</Code><Message>%s</Message></Error></ErrorResponse>" % (
        code,
        message,
    )


class FakeAwsSts:
    def __init__(self):
        self.fail = None
        self.fake = Fake(self.handle)

    def handle(self, method, path, headers, body):
        form = dict(urllib.parse.parse_qsl(body.decode()))
        if self.fail:
            return 403, "text/xml", xml_error("AccessDenied", self.fail)
        if (
            method != "POST"
            or form.get("Action") != "AssumeRoleWithWebIdentity"
            or form.get("WebIdentityToken") != WEB_IDENTITY
        ):
            return 400, "text/xml", xml_error("InvalidIdentityToken", "bad request")
        if form.get("RoleArn") != ROLE_ARN:
            return 403, "text/xml", xml_error("AccessDenied", "Not authorized to perform sts:AssumeRoleWithWebIdentity")
        return (
            200,
            "text/xml",
            '<AssumeRoleWithWebIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">'
            "<AssumeRoleWithWebIdentityResult><Credentials>"
            "<AccessKeyId>%s</AccessKeyId><SecretAccessKey>%s</SecretAccessKey><SessionToken>%s</SessionToken>"
            "<Expiration>2027-01-15T09:00:00Z</Expiration></Credentials></AssumeRoleWithWebIdentityResult>"
            "</AssumeRoleWithWebIdentityResponse>" % (AWS_KEY, AWS_SECRET, AWS_SESSION),
        )


class FakePodIdentity:
    def __init__(self):
        self.fake = Fake(self.handle)

    def handle(self, method, path, headers, body):
        if method != "GET" or headers.get("Authorization") != POD_IDENTITY:
            return 401, "application/json", '{"Message":"invalid token"}'
        doc = {"AccessKeyId": AWS_KEY, "SecretAccessKey": AWS_SECRET, "Token": AWS_SESSION, "Expiration": "x"}
        return 200, "application/json", json.dumps(doc)


class FakeEcr:
    """Checks the SigV4 signature with the secret key the fake STS issued, and the session token."""

    def __init__(self):
        self.fail = None
        self.issued = 0
        self.fake = Fake(self.handle)

    def handle(self, method, path, headers, body):
        if self.fail:
            return self.fail[0], "application/x-amz-json-1.1", json.dumps(self.fail[1])
        if headers.get("X-Amz-Target") != "AmazonEC2ContainerRegistry_V20150921.GetAuthorizationToken":
            return 400, "application/x-amz-json-1.1", '{"__type":"UnknownOperationException"}'
        if headers.get("X-Amz-Security-Token") != AWS_SESSION:
            return 403, "application/x-amz-json-1.1", '{"__type":"UnrecognizedClientException"}'
        auth = headers.get("Authorization", "")
        names = auth.split("SignedHeaders=")[1].split(",")[0].split(";")
        sent = {n: headers.get(n) for n in names if n not in ("host", "x-amz-date", "x-amz-security-token")}
        expected = r.sigv4_headers(
            "POST",
            "http://%s%s" % (headers.get("Host"), path),
            "eu-west-1",
            "ecr",
            {"accessKeyId": AWS_KEY, "secretAccessKey": AWS_SECRET, "sessionToken": AWS_SESSION},
            body,
            headers.get("X-Amz-Date"),
            sent,
        )["Authorization"]
        if auth != expected or "/eu-west-1/ecr/aws4_request" not in auth:
            return 403, "application/x-amz-json-1.1", '{"__type":"InvalidSignatureException","message":"no match"}'
        if json.loads(body) != {"registryIds": ["123456789012"]}:
            return 400, "application/x-amz-json-1.1", '{"__type":"InvalidParameterException"}'
        self.issued += 1
        password = "ecr-token-%d" % self.issued
        token = base64.b64encode(("AWS:" + password).encode()).decode()
        issued_at = calendar.timegm(time.strptime(headers.get("X-Amz-Date"), "%Y%m%dT%H%M%SZ"))
        data = {"authorizationToken": token, "expiresAt": issued_at + 43200, "proxyEndpoint": "https://" + ECR_HOST}
        return 200, "application/x-amz-json-1.1", json.dumps({"authorizationData": [data]})


class FakeAlicloudSts:
    def __init__(self):
        self.fake = Fake(self.handle)

    def handle(self, method, path, headers, body):
        form = dict(urllib.parse.parse_qsl(body.decode()))
        ok = (
            form.get("Action") == "AssumeRoleWithOIDC"
            and form.get("OIDCToken") == RRSA_TOKEN
            and form.get("RoleArn") == RAM_ROLE_ARN
            and form.get("OIDCProviderArn") == OIDC_PROVIDER_ARN
        )
        if not ok:
            return 400, "application/json", '{"Code":"AuthenticationFail.OIDCToken.Invalid","Message":"bad token"}'
        creds = {"AccessKeyId": ALI_KEY, "AccessKeySecret": ALI_SECRET, "SecurityToken": ALI_SESSION}
        return 200, "application/json", json.dumps({"RequestId": "r", "Credentials": creds})


class FakeAcr:
    """Checks the RPC signature with the secret the fake STS issued, the security token and the instance."""

    def __init__(self):
        self.fail = None
        self.issued = 0
        self.fake = Fake(self.handle)

    def handle(self, method, path, headers, body):
        if self.fail:
            return 403, "application/json", json.dumps({"Code": self.fail, "Message": "denied by policy"})
        params = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(path).query, keep_blank_values=True))
        signature = params.pop("Signature", "")
        if signature != r.rpc_signature("GET", params, ALI_SECRET) or params.get("SecurityToken") != ALI_SESSION:
            return 400, "application/json", '{"Code":"SignatureDoesNotMatch","Message":"no match"}'
        if params.get("Action") != "GetAuthorizationToken" or params.get("InstanceId") != "cri-abc123":
            return 404, "application/json", '{"Code":"INSTANCE_NOT_EXIST"}'
        self.issued += 1
        doc = {
            "IsSuccess": True,
            "TempUsername": "cr_temp_user",
            "AuthorizationToken": "acr-token-%d" % self.issued,
            "ExpireTime": (calendar.timegm(time.strptime(params["Timestamp"], "%Y-%m-%dT%H:%M:%SZ")) + 3600) * 1000,
        }
        return 200, "application/json", json.dumps(doc)


def apply_json_patch(doc, ops):
    """RFC 6902 add/replace/remove/test on objects (all the refresher sends); raises ValueError on a failed test."""
    doc = copy.deepcopy(doc)
    for op in ops:
        parts = [p.replace("~1", "/").replace("~0", "~") for p in op["path"].split("/")[1:]]
        parent = doc
        for p in parts[:-1]:
            parent = parent[p]
        last = parts[-1]
        if op["op"] == "test":
            if parent.get(last) != op["value"]:
                raise ValueError("test failed")
        elif op["op"] == "add":
            parent[last] = op["value"]
        elif op["op"] == "replace":
            if last not in parent:
                raise ValueError("replace of a missing member")
            parent[last] = op["value"]
        elif op["op"] == "remove":
            del parent[last]
        else:
            raise ValueError("unsupported op")
    return doc


class FakeKubernetes:
    """GET and JSON-patch secrets, over TLS, with a bearer token; records every patch."""

    def __init__(self, tls):
        self.secrets = {}
        self.patches = []
        self.before_patch = None
        self.fake = Fake(self.handle, tls)

    def add_secret(self, namespace, name, data=PLACEHOLDER):
        self.secrets[(namespace, name)] = {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": name, "namespace": namespace, "resourceVersion": "100"},
            "type": "kubernetes.io/dockerconfigjson",
            "data": {".dockerconfigjson": data},
        }

    def document(self, namespace, name):
        return json.loads(base64.b64decode(self.secrets[(namespace, name)]["data"][".dockerconfigjson"]))

    def handle(self, method, path, headers, body):
        if headers.get("Authorization") != "Bearer " + SA_TOKEN:
            return 401, "application/json", '{"kind":"Status","reason":"Unauthorized","message":"Unauthorized"}'
        path, _, query = path.partition("?")
        if method == "PATCH" and query != "fieldManager=registry-mirrors-refresher":
            return 400, "application/json", '{"kind":"Status","reason":"BadRequest","message":"no field manager"}'
        parts = path.split("/")
        if len(parts) != 7 or parts[1:4] != ["api", "v1", "namespaces"] or parts[5] != "secrets":
            return 404, "application/json", '{"kind":"Status","reason":"NotFound"}'
        key = (parts[4], parts[6])
        if key not in self.secrets:
            return 404, "application/json", '{"kind":"Status","reason":"NotFound","message":"secrets not found"}'
        if method == "GET":
            return 200, "application/json", json.dumps(self.secrets[key])
        if method != "PATCH" or headers.get("Content-Type") != "application/json-patch+json":
            return 415, "application/json", '{"kind":"Status","reason":"UnsupportedMediaType"}'
        ops = json.loads(body)
        self.patches.append((key, ops))
        if self.before_patch:
            self.before_patch(key)
        try:
            updated = apply_json_patch(self.secrets[key], ops)
        except (ValueError, KeyError) as error:
            return 422, "application/json", json.dumps({"kind": "Status", "reason": "Invalid", "message": str(error)})
        updated["metadata"]["resourceVersion"] = str(int(updated["metadata"]["resourceVersion"]) + 1)
        self.secrets[key] = updated
        return 200, "application/json", json.dumps(updated)


class Lab(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="refresher-test-")
        cert, key = os.path.join(cls.dir, "ca.crt"), os.path.join(cls.dir, "key.pem")
        subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=127.0.0.1"]
            + ["-addext", "subjectAltName=IP:127.0.0.1", "-keyout", key, "-out", cert],
            check=True,
            capture_output=True,
        )
        sa = os.path.join(cls.dir, "sa")
        os.mkdir(sa)
        shutil.copy(cert, os.path.join(sa, "ca.crt"))
        files = {"sa/token": SA_TOKEN, "web-identity": WEB_IDENTITY, "pod-identity": POD_IDENTITY, "rrsa": RRSA_TOKEN}
        for name, text in files.items():
            with open(os.path.join(cls.dir, name), "w") as f:
                f.write(text + "\n")
        cls.tls = (cert, key)
        cls.all_logs = []

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.dir)
        joined = "".join(cls.all_logs)
        for secret in SECRETS + ["ecr-token-", "acr-token-"]:
            assert secret not in joined, "a credential reached the log"

    def setUp(self):
        self.sts, self.pod_identity, self.ecr = FakeAwsSts(), FakePodIdentity(), FakeEcr()
        self.ali_sts, self.acr = FakeAlicloudSts(), FakeAcr()
        self.kube = FakeKubernetes(self.tls)
        for ns in ("apps", "jobs"):
            self.kube.add_secret(ns, "ecr-pull")

    def tearDown(self):
        for f in (self.sts, self.pod_identity, self.ecr, self.ali_sts, self.acr, self.kube):
            f.fake.close()

    def config(self, registries=("ecr",), namespaces=("apps", "jobs")):
        entries = {
            "ecr": {
                "key": ECR_HOST,
                "source": "ecr",
                "registryId": "123456789012",
                "region": "eu-west-1",
                "domain": "amazonaws.com",
                "safeAgeSeconds": 21600,
            },
            "acr": {
                "key": ACR_HOST,
                "source": "acr",
                "instanceId": "cri-abc123",
                "region": "cn-hangzhou",
                "safeAgeSeconds": 1800,
            },
        }
        return {
            "secretName": "ecr-pull",
            "namespaces": list(namespaces),
            "registries": [entries[s] for s in registries],
            "endpoints": {
                "awsSts": self.sts.fake.url,
                "ecr": self.ecr.fake.url,
                "alicloudSts": self.ali_sts.fake.url,
                "acr": self.acr.fake.url,
            },
        }

    def env(self, aws="irsa"):
        env = {
            "KUBERNETES_SERVICE_HOST": "127.0.0.1",
            "KUBERNETES_SERVICE_PORT": str(self.kube.fake.port),
            "REFRESHER_SERVICE_ACCOUNT_DIR": os.path.join(self.dir, "sa"),
            "ALIBABA_CLOUD_ROLE_ARN": RAM_ROLE_ARN,
            "ALIBABA_CLOUD_OIDC_PROVIDER_ARN": OIDC_PROVIDER_ARN,
            "ALIBABA_CLOUD_OIDC_TOKEN_FILE": os.path.join(self.dir, "rrsa"),
        }
        if aws == "irsa":
            env.update(AWS_ROLE_ARN=ROLE_ARN, AWS_WEB_IDENTITY_TOKEN_FILE=os.path.join(self.dir, "web-identity"))
        elif aws == "pod-identity":
            env.update(
                AWS_CONTAINER_CREDENTIALS_FULL_URI=self.pod_identity.fake.url + "/v1/credentials",
                AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE=os.path.join(self.dir, "pod-identity"),
            )
        return env

    def run_once(self, config=None, env=None, now=NOW):
        out = io.StringIO()
        with contextlib.redirect_stderr(out):
            code = r.run(config or self.config(), env or self.env(), now)
        text = out.getvalue()
        self.all_logs.append(text)
        return code, text.splitlines()

    def entry(self, user, password):
        auth = base64.b64encode(("%s:%s" % (user, password)).encode()).decode()
        return {"username": user, "password": password, "auth": auth}


class SignerVectors(unittest.TestCase):
    def test_sigv4_matches_the_aws_test_suite(self):
        # get-vanilla from the AWS Signature Version 4 test suite.
        creds = {"accessKeyId": "AKIDEXAMPLE", "secretAccessKey": "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"}
        headers = r.sigv4_headers(
            "GET", "https://example.amazonaws.com/", "us-east-1", "service", creds, b"", "20150830T123600Z", {}
        )
        self.assertEqual(
            headers["Authorization"],
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, "
            "SignedHeaders=host;x-amz-date, Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
        )

    def test_rpc_signature_matches_the_alibaba_cloud_example(self):
        # The worked example of Alibaba Cloud's RPC signature documentation (DescribeRegions, secret "testsecret").
        params = {
            "Timestamp": "2016-02-23T12:46:24Z",
            "Format": "XML",
            "AccessKeyId": "testid",
            "Action": "DescribeRegions",
            "SignatureMethod": "HMAC-SHA1",
            "SignatureNonce": "3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf",
            "Version": "2014-05-26",
            "SignatureVersion": "1.0",
        }
        self.assertEqual(r.rpc_signature("GET", params, "testsecret"), "OLeaidS1JvxuMvnyHOwuJ+uX5qY=")


class Refresh(Lab):
    def test_irsa_fills_the_placeholder_in_every_namespace_with_exact_json_patches(self):
        code, lines = self.run_once()
        self.assertEqual(code, 0, lines)
        self.assertEqual(len(self.kube.patches), 2)
        document = base64.b64encode(
            json.dumps({"auths": {ECR_HOST: self.entry("AWS", "ecr-token-1")}}, separators=(",", ":")).encode()
        ).decode()
        status = '{"%s":{"expiresAt":"2027-01-15T20:00:00Z","refreshedAt":"2027-01-15T08:00:00Z"}}' % ECR_HOST
        for (key, ops), ns in zip(self.kube.patches, ("apps", "jobs")):
            self.assertEqual(key, (ns, "ecr-pull"))
            self.assertEqual(
                ops,
                [
                    {"op": "test", "path": "/metadata/resourceVersion", "value": "100"},
                    {"op": "add", "path": "/data/.dockerconfigjson", "value": document},
                    {
                        "op": "add",
                        "path": "/metadata/annotations",
                        "value": {
                            "registry-mirrors.dev/token-status": status,
                            "registry-mirrors.dev/expires-at": "2027-01-15T20:00:00Z",
                        },
                    },
                ],
            )
        # One token for both namespaces: the same document everywhere.
        self.assertEqual(self.ecr.issued, 1)
        self.assertEqual(self.kube.document("jobs", "ecr-pull"), {"auths": {ECR_HOST: self.entry("AWS", "ecr-token-1")}})
        self.assertEqual(len(self.sts.fake.requests), 1)
        self.assertEqual(
            lines,
            [
                "level=info event=refreshed secret=ecr-pull namespaces=apps,jobs registries=1 "
                "expires_at=2027-01-15T20:00:00Z"
            ],
        )

    def test_eks_pod_identity_reads_the_container_credentials_endpoint(self):
        code, lines = self.run_once(env=self.env("pod-identity"))
        self.assertEqual(code, 0, lines)
        self.assertEqual(len(self.pod_identity.fake.requests), 1)
        self.assertEqual(self.pod_identity.fake.requests[0][1], "/v1/credentials")
        self.assertEqual(self.sts.fake.requests, [])
        self.assertEqual(self.kube.document("apps", "ecr-pull")["auths"][ECR_HOST]["password"], "ecr-token-1")

    def test_failure_keeps_the_last_token_logs_one_line_then_turns_stale_and_recovers(self):
        self.assertEqual(self.run_once()[0], 0)
        good = copy.deepcopy(self.kube.secrets[("apps", "ecr-pull")])

        # An hour later ECR refuses: one line, exit 1, the token stays; not yet older than its safe age.
        self.ecr.fail = (400, {"__type": "AccessDeniedException", "message": "not authorized to perform ecr:Get"})
        code, lines = self.run_once(now=NOW + 3600)
        self.assertEqual(code, 1)
        self.assertEqual(
            lines,
            [
                'level=error event=token_failed registry=%s source=ecr error="ECR GetAuthorizationToken: HTTP 400 '
                'AccessDeniedException: not authorized to perform ecr:Get" kept="previous token"' % ECR_HOST
            ],
        )
        after = self.kube.secrets[("apps", "ecr-pull")]
        self.assertEqual(after["data"], good["data"])
        self.assertEqual(after["metadata"]["annotations"], good["metadata"]["annotations"])

        # Seven hours after the last renewal (safe age 6 h): the failure line plus one stale line per secret.
        self.kube.patches.clear()
        code, lines = self.run_once(now=NOW + 7 * 3600)
        self.assertEqual(code, 1)
        self.assertEqual(len(lines), 3, lines)
        self.assertTrue(lines[0].startswith("level=error event=token_failed registry=%s " % ECR_HOST))
        self.assertEqual(
            lines[1],
            "level=warning event=token_stale namespace=apps secret=ecr-pull registry=%s age_seconds=25200 "
            "safe_age_seconds=21600 expires_at=2027-01-15T20:00:00Z" % ECR_HOST,
        )
        self.assertIn("namespace=jobs", lines[2])
        stale = self.kube.secrets[("apps", "ecr-pull")]
        self.assertEqual(stale["data"], good["data"])
        self.assertEqual(stale["metadata"]["annotations"]["registry-mirrors.dev/stale"], ECR_HOST)
        self.assertIn(
            {"op": "add", "path": "/metadata/annotations/registry-mirrors.dev~1stale", "value": ECR_HOST},
            self.kube.patches[0][1],
        )

        # Past the expiry the kept token is still the last valid one and still reported.
        code, lines = self.run_once(now=NOW + 13 * 3600)
        self.assertEqual(code, 1)
        self.assertIn("age_seconds=46800", lines[1])

        # ECR answers again: a new token, the stale mark removed.
        self.ecr.fail = None
        self.kube.patches.clear()
        code, lines = self.run_once(now=NOW + 14 * 3600)
        self.assertEqual(code, 0, lines)
        self.assertEqual(self.kube.document("apps", "ecr-pull")["auths"][ECR_HOST]["password"], "ecr-token-2")
        self.assertIn(
            {"op": "remove", "path": "/metadata/annotations/registry-mirrors.dev~1stale"}, self.kube.patches[0][1]
        )
        annotations = self.kube.secrets[("apps", "ecr-pull")]["metadata"]["annotations"]
        self.assertNotIn("registry-mirrors.dev/stale", annotations)
        self.assertEqual(annotations["registry-mirrors.dev/expires-at"], "2027-01-16T10:00:00Z")

    def test_a_placeholder_that_was_never_filled_is_stale_at_once(self):
        self.sts.fail = "Not authorized to perform sts:AssumeRoleWithWebIdentity"
        code, lines = self.run_once(self.config(namespaces=("apps",)))
        self.assertEqual(code, 1)
        self.assertEqual(len(lines), 2, lines)
        self.assertIn("STS AssumeRoleWithWebIdentity: HTTP 403 AccessDenied: Not authorized", lines[0])
        self.assertIn("age_seconds=unknown", lines[1])
        self.assertEqual(self.kube.document("apps", "ecr-pull"), {"auths": {}})

    def test_acr_through_rrsa_and_ecr_side_by_side_one_failing(self):
        self.kube.add_secret("apps", "ecr-pull")
        config = self.config(("ecr", "acr"), ("apps",))
        code, lines = self.run_once(config)
        self.assertEqual(code, 0, lines)
        doc = self.kube.document("apps", "ecr-pull")
        self.assertEqual(
            doc, {"auths": {ACR_HOST: self.entry("cr_temp_user", "acr-token-1"), ECR_HOST: self.entry("AWS", "ecr-token-1")}}
        )
        annotations = self.kube.secrets[("apps", "ecr-pull")]["metadata"]["annotations"]
        self.assertEqual(annotations["registry-mirrors.dev/expires-at"], "2027-01-15T09:00:00Z")

        # ACR refuses: the ACR entry is kept as it was, the ECR entry is renewed.
        self.acr.fail = "NOT_AUTHORIZED"
        code, lines = self.run_once(config, now=NOW + 900)
        self.assertEqual(code, 1)
        self.assertEqual(len(lines), 1, lines)
        self.assertIn("event=token_failed registry=%s source=acr" % ACR_HOST, lines[0])
        self.assertIn("HTTP 403 NOT_AUTHORIZED: denied by policy", lines[0])
        doc = self.kube.document("apps", "ecr-pull")
        self.assertEqual(doc["auths"][ACR_HOST]["password"], "acr-token-1")
        self.assertEqual(doc["auths"][ECR_HOST]["password"], "ecr-token-2")
        status = json.loads(self.kube.secrets[("apps", "ecr-pull")]["metadata"]["annotations"][r.STATUS_ANNOTATION])
        self.assertEqual(status[ACR_HOST]["refreshedAt"], "2027-01-15T08:00:00Z")
        self.assertEqual(status[ECR_HOST]["refreshedAt"], "2027-01-15T08:15:00Z")

    def test_keys_it_does_not_own_are_dropped_and_existing_annotations_kept(self):
        other = base64.b64encode(json.dumps({"auths": {"ghcr.io": self.entry("u", "p")}}).encode()).decode()
        self.kube.add_secret("apps", "ecr-pull", other)
        self.kube.secrets[("apps", "ecr-pull")]["metadata"]["annotations"] = {"team": "a"}
        code, _ = self.run_once(self.config(namespaces=("apps",)))
        self.assertEqual(code, 0)
        self.assertEqual(list(self.kube.document("apps", "ecr-pull")["auths"]), [ECR_HOST])
        ops = self.kube.patches[0][1]
        self.assertEqual(
            [o["path"] for o in ops],
            [
                "/metadata/resourceVersion",
                "/data/.dockerconfigjson",
                "/metadata/annotations/registry-mirrors.dev~1expires-at",
                "/metadata/annotations/registry-mirrors.dev~1token-status",
            ],
        )
        self.assertEqual(self.kube.secrets[("apps", "ecr-pull")]["metadata"]["annotations"]["team"], "a")

    def test_a_secret_changed_between_get_and_patch_is_read_again(self):
        changed = []

        def bump(key):
            if not changed:
                changed.append(key)
                self.kube.secrets[key]["metadata"]["resourceVersion"] = "101"

        self.kube.before_patch = bump
        code, lines = self.run_once(self.config(namespaces=("apps",)))
        self.assertEqual(code, 0, lines)
        self.assertEqual([ops[0]["value"] for _, ops in self.kube.patches], ["100", "101"])
        self.assertEqual(self.kube.secrets[("apps", "ecr-pull")]["metadata"]["resourceVersion"], "102")

    def test_a_missing_secret_is_one_line_and_the_other_namespaces_are_still_updated(self):
        code, lines = self.run_once(self.config(namespaces=("gone", "apps")))
        self.assertEqual(code, 1)
        self.assertEqual(
            lines,
            [
                "level=error event=secret_failed namespace=gone secret=ecr-pull "
                'error="secret gone/ecr-pull not found: pulumi up creates it, the refresher never does"'
            ],
        )
        self.assertEqual(self.kube.document("apps", "ecr-pull")["auths"][ECR_HOST]["password"], "ecr-token-1")
        self.assertNotIn(("gone", "ecr-pull"), self.kube.secrets)

    def test_a_refused_service_account_token_is_one_line_per_namespace(self):
        with open(os.path.join(self.dir, "sa", "token"), "w") as f:
            f.write("someone-else")
        try:
            code, lines = self.run_once(self.config(namespaces=("apps",)))
        finally:
            with open(os.path.join(self.dir, "sa", "token"), "w") as f:
                f.write(SA_TOKEN)
        self.assertEqual(code, 1)
        self.assertEqual(
            lines,
            [
                "level=error event=secret_failed namespace=apps secret=ecr-pull "
                'error="GET secret apps/ecr-pull: HTTP 401 Unauthorized: Unauthorized"'
            ],
        )

    def test_no_identity_in_the_pod_says_what_to_configure(self):
        code, lines = self.run_once(self.config(namespaces=("apps",)), env=self.env(aws="none"))
        self.assertEqual(code, 1)
        self.assertIn("no AWS identity in the pod", lines[0])
        self.assertIn("refresher.aws", lines[0])

    def test_the_script_runs_as_a_program_with_its_config_file(self):
        path = os.path.join(self.dir, "config.json")
        with open(path, "w") as f:
            json.dump(self.config(namespaces=("apps",)), f)
        env = dict(os.environ, **self.env(), PYTHONDONTWRITEBYTECODE="1")
        res = subprocess.run([sys.executable, SCRIPT, path], env=env, capture_output=True, text=True, timeout=60)
        self.all_logs.append(res.stdout + res.stderr)
        self.assertEqual(res.returncode, 0, res.stderr)
        self.assertEqual(res.stdout, "")
        self.assertIn("level=info event=refreshed secret=ecr-pull namespaces=apps registries=1", res.stderr)
        self.assertEqual(self.kube.document("apps", "ecr-pull")["auths"][ECR_HOST]["password"], "ecr-token-1")


if __name__ == "__main__":
    unittest.main()
