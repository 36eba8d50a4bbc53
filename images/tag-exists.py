#!/usr/bin/env python3
"""Does REGISTRY/REPOSITORY:TAG exist? Asked with the credentials and the CA Docker itself uses.

    tag-exists.py REGISTRY REPOSITORY TAG

images/build.sh asks this before it builds, so that VERSION-BUILD is never overwritten. The
credentials come from Docker's client configuration ($DOCKER_CONFIG/config.json, default
~/.docker: `auths`, or a `credsStore`/`credHelpers` helper), the CA and client certificate from
Docker's per-registry directory ($DOCKER_CERTS_D/REGISTRY, default /etc/docker/certs.d: *.crt,
*.cert + *.key), added to the system CAs as dockerd does. The registry's Basic and Bearer (token)
challenges are both answered. $REGISTRY_URL overrides the API base (default https://REGISTRY).

Exit status: 0 the tag exists, 1 it does not, 2 the registry refused the credentials (or there
were none), 3 the registry could not be asked; one line on stderr for 2 and 3. Nothing secret is
printed. Runs on Python 3.6 (an EL 7 Jenkins agent).
"""

import base64
import glob
import json
import os
import re
import ssl
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request

ACCEPT = ", ".join(
    [
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.docker.distribution.manifest.v2+json",
    ]
)
TIMEOUT = 30
MAX_TOKEN_ANSWER = 1 << 20


class Refused(Exception):
    """The registry answered 401/403 to the credentials Docker has (or to none)."""


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None  # a redirect is an answer of its own, never followed with the credentials


def credentials(registry):
    """(user, secret) Docker would send to REGISTRY, or None."""
    config_dir = os.environ.get("DOCKER_CONFIG") or os.path.join(os.path.expanduser("~"), ".docker")
    path = os.path.join(config_dir, "config.json")
    try:
        with open(path) as f:
            config = json.load(f)
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as e:
        raise SystemExit(_fail(3, f"cannot read {path}: {e}")) from None
    helper = (config.get("credHelpers") or {}).get(registry) or config.get("credsStore")
    if helper:
        if not re.fullmatch(r"[A-Za-z0-9_.-]+", helper):
            raise SystemExit(_fail(3, f"{path}: credential helper {helper!r} is not a name"))
        proc = subprocess.run(
            ["docker-credential-" + helper, "get"],
            input=registry.encode(),
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            timeout=TIMEOUT,
        )
        if proc.returncode != 0:
            return None  # the helper holds nothing for this registry
        answer = json.loads(proc.stdout.decode())
        return answer.get("Username", ""), answer.get("Secret", "")
    auths = config.get("auths") or {}
    for key in (registry, "https://" + registry, "http://" + registry):
        auth = (auths.get(key) or {}).get("auth")
        if auth:
            user, _, secret = base64.b64decode(auth).decode().partition(":")
            return user, secret
    return None


def tls_context(registry):
    context = ssl.create_default_context()
    certs_d = os.environ.get("DOCKER_CERTS_D") or "/etc/docker/certs.d"
    directory = os.path.join(certs_d, registry)
    for ca in sorted(glob.glob(os.path.join(directory, "*.crt"))):
        context.load_verify_locations(cafile=ca)
    for cert in sorted(glob.glob(os.path.join(directory, "*.cert"))):
        key = cert[: -len(".cert")] + ".key"
        if os.path.exists(key):
            context.load_cert_chain(cert, key)
    return context


def _basic(creds):
    return "Basic " + base64.b64encode("{}:{}".format(*creds).encode()).decode()


def _challenge(header):
    """('bearer'|'basic', {param: value}) of a WWW-Authenticate header."""
    scheme, _, rest = (header or "").strip().partition(" ")
    return scheme.lower(), dict(re.findall(r'(\w+)="([^"]*)"', rest))


def _open(opener, request):
    try:
        return opener.open(request, timeout=TIMEOUT)
    except urllib.error.HTTPError as e:
        return e


def token(opener, base, params, creds, repository):
    realm = params.get("realm", "")
    scheme = urllib.parse.urlsplit(realm).scheme.lower()
    if scheme not in ("https", "http") or (scheme == "http" and urllib.parse.urlsplit(base).scheme == "https"):
        raise Refused(f"the registry's token service {realm!r} is not https: credentials are not sent there")
    query = {"scope": params.get("scope") or f"repository:{repository}:pull"}
    if params.get("service"):
        query["service"] = params["service"]
    request = urllib.request.Request(realm + ("&" if "?" in realm else "?") + urllib.parse.urlencode(query))  # noqa: S310 (https checked above)
    if creds:
        request.add_header("Authorization", _basic(creds))
    answer = _open(opener, request)
    if answer.getcode() in (401, 403):
        raise Refused(f"the token service refused the credentials (HTTP {answer.getcode()})")
    if answer.getcode() != 200:
        raise OSError(f"the token service answered HTTP {answer.getcode()}")
    body = json.loads(answer.read(MAX_TOKEN_ANSWER).decode())
    return body.get("token") or body.get("access_token") or ""


def exists(registry, repository, tag):
    base = (os.environ.get("REGISTRY_URL") or "https://" + registry).rstrip("/")
    if urllib.parse.urlsplit(base).scheme not in ("https", "http"):
        raise OSError(f"REGISTRY_URL {base!r} is not an http(s) URL")
    url = f"{base}/v2/{repository}/manifests/{tag}"
    opener = urllib.request.build_opener(urllib.request.HTTPSHandler(context=tls_context(registry)), NoRedirect)
    creds = credentials(registry)
    authorization = None
    for _ in range(2):
        request = urllib.request.Request(url, method="HEAD", headers={"Accept": ACCEPT})  # noqa: S310 (http(s) only)
        if authorization:
            request.add_header("Authorization", authorization)
        answer = _open(opener, request)
        if answer.getcode() == 200:
            return True
        if answer.getcode() == 404:
            return False
        if answer.getcode() == 401 and authorization is None:
            scheme, params = _challenge(answer.headers.get("WWW-Authenticate"))
            if scheme == "basic" and creds:
                authorization = _basic(creds)
                continue
            if scheme == "bearer":
                authorization = "Bearer " + token(opener, base, params, creds, repository)
                continue
        if answer.getcode() in (401, 403):
            raise Refused(f"HTTP {answer.getcode()}")
        raise OSError(f"HTTP {answer.getcode()}")
    raise Refused("HTTP 401 with the credentials")


def _fail(code, message):
    sys.stderr.write(f"tag-exists: {message}\n")
    return code


def main(argv):
    if len(argv) != 3:
        return _fail(3, "usage: tag-exists.py REGISTRY REPOSITORY TAG")
    registry, repository, tag = argv
    try:
        return 0 if exists(registry, repository, tag) else 1
    except Refused as e:
        where = os.environ.get("DOCKER_CONFIG") or "~/.docker"
        return _fail(2, f"the registry refused to say whether the tag exists ({e}; credentials from {where})")
    except ssl.SSLError as e:
        return _fail(3, "TLS with {} failed: {} (its CA goes in /etc/docker/certs.d/{}/ca.crt)".format(
            registry, getattr(e, "reason", None) or e, registry))  # fmt: skip
    except urllib.error.URLError as e:
        reason = e.reason
        if isinstance(reason, ssl.SSLError):
            return _fail(3, "TLS with {} failed: {} (its CA goes in /etc/docker/certs.d/{}/ca.crt)".format(
                registry, getattr(reason, "reason", None) or reason, registry))  # fmt: skip
        return _fail(3, f"cannot reach {registry}: {reason}")
    except (OSError, ValueError, subprocess.SubprocessError) as e:
        return _fail(3, f"cannot ask {registry}: {e}")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
