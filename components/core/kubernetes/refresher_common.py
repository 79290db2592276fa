# The pull-secret refresher's (pull-secret-refresher.py) shared parts: its error, log lines, times, HTTP calls and
# the summary of an error answer.

import datetime
import json
import sys
import urllib.error
import urllib.parse
import urllib.request
import xml.etree.ElementTree as ElementTree

HTTP_TIMEOUT = 15
USER_AGENT = "registry-mirrors-pull-secret-refresher/1"


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


def read_file(path, what):
    try:
        with open(path, encoding="utf-8") as f:
            return f.read().strip()
    except OSError as error:
        raise RefreshError("cannot read %s %s: %s" % (what, path, error.strerror)) from None


def percent(text):
    return urllib.parse.quote(str(text), safe="-_.~")


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
