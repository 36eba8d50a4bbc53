"""The private Docker registry, through the Registry HTTP API v2 (requests).

Ping, tags with pagination, manifests by tag with the full Accept list, an index resolved to
one platform, and the image config blob (``created`` and labels) without pulling anything.
Authentication: anonymous, HTTP basic, or the bearer-token flow a ``WWW-Authenticate: Bearer``
challenge asks for; the password comes from the file the config names. TLS is verified (with
the configured CA file); plain ``http://`` only where the config allows it. Every call has a
timeout; every failure is a RegistryError with one line for the operator.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Optional
from urllib.parse import urljoin, urlsplit

from pollerfleet.clients import peers
from pollerfleet.core import record, verbosity
from pollerfleet.core.config import ConfigError, RegistrySettings, read_secret
from pollerfleet.core.names import plain
from pollerfleet.core.timefmt import epoch

DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
ACCEPT = ", ".join((OCI_INDEX, DOCKER_LIST, OCI_MANIFEST, DOCKER_MANIFEST))
INDEXES = (DOCKER_LIST, OCI_INDEX)
MAX_PAGES = 200
MAX_ANSWER = 16 * 1024 * 1024  # bytes in one answer: a manifest is at most 4 MiB, a page of tags far less
DIGEST = re.compile(r"sha256:[0-9a-f]{64}")  # what a digest is; anything else a registry says is refused

if TYPE_CHECKING:
    import requests


class RegistryError(Exception):
    """The registry could not be asked or answered badly; str() is the operator's reason."""


class NotFound(RegistryError):
    """404: no such repository, tag or blob."""


@dataclass(frozen=True)
class ImageInfo:
    """One tag in the registry: its digest, and what its config blob says."""

    tag: str
    digest: str
    created: Optional[float] = None  # epoch seconds
    labels: dict[str, str] = field(default_factory=dict)


@dataclass
class RegistryClient:
    """A client for the registry the [registry] config section names."""

    settings: RegistrySettings
    platform: str = "linux/amd64"
    _session: requests.Session = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.base = registry_base(self.settings)
        # requests is imported here, not at the top: a check answered from the cache never needs it
        import requests

        self._rq = requests
        self._session = verbosity.attach(peers.guard(requests.Session(), MAX_ANSWER))
        self._session.headers["User-Agent"] = "pollerfleet"
        # the token service's session: no registry credentials attached, the same bounds
        self._token_session = verbosity.attach(peers.guard(requests.Session(), MAX_ANSWER))
        self._token_session.headers["User-Agent"] = "pollerfleet"
        # Passed with every request: a session-level verify loses to $REQUESTS_CA_BUNDLE (requests #3829).
        self._verify: Any = str(self.settings.ca_file) if self.settings.ca_file else True
        self._credentials: Optional[tuple[str, str]] = None
        if self.settings.username:
            self._credentials = (
                self.settings.username,
                read_secret(self.settings.password_file, "registry password"),
            )
        self._auth = _registry_auth(self)
        self._session.auth = self._auth

    # -- API ----------------------------------------------------------------------------------
    def tags(self, repository: str, page_size: int = 100) -> list[str]:
        """Every tag of REPOSITORY, following ``Link: <...>; rel="next"`` pagination."""
        path: Optional[str] = f"/v2/{repository}/tags/list?n={page_size}"
        found: list[str] = []
        for _ in range(MAX_PAGES):
            if path is None:
                return found
            resp = self._get(path, f"list the tags of {repository}")
            doc = self._json(resp, f"tags of {repository}")
            tags = doc.get("tags") if isinstance(doc, dict) else None
            if tags is None and isinstance(doc, dict) and "tags" in doc:
                tags = []  # a repository whose tags were all deleted
            if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
                raise RegistryError(f"malformed answer from {self.base} to the tags of {repository}: no tag list")
            found += tags
            path = self._next_page(resp, repository)
        raise RegistryError(f"{self.base} kept paginating the tags of {repository} past {MAX_PAGES} pages")

    def _next_page(self, resp: requests.Response, repository: str) -> Optional[str]:
        """The path of the next page a ``Link: <...>; rel="next"`` names, resolved against the page
        that named it; only on the registry's own origin (scheme, host, port): the session would
        send the credentials wherever the link points."""
        link = resp.links.get("next", {}).get("url")
        if not link:
            return None
        target = urljoin(resp.url, link)
        parts = urlsplit(target)
        path = f"{parts.path}?{parts.query}" if parts.query else parts.path
        for url in (target, urljoin(self.base, path)):  # a path of //host/... names a host too
            if peers.origin(url) != peers.origin(self.base):
                raise RegistryError(
                    f"{self.base} sent a pagination link to another origin ({peers.shown(url)}) for the tags of "
                    f"{repository}: not followed"
                )
        return path

    def digest(self, repository: str, tag: str) -> str:
        """The digest the registry serves for REPOSITORY:TAG (a HEAD request)."""
        resp = self._request(
            "HEAD", f"/v2/{repository}/manifests/{tag}", f"look up {repository}:{tag}", {"Accept": ACCEPT}
        )
        return self._digest(
            resp.headers.get("Docker-Content-Digest", ""), f"{repository}:{tag}", "Docker-Content-Digest"
        )

    def image(self, repository: str, tag: str) -> ImageInfo:
        """Digest, creation time and labels of REPOSITORY:TAG, resolving an index to our platform."""
        what = f"{repository}:{tag}"
        resp = self._get(f"/v2/{repository}/manifests/{tag}", f"read the manifest of {what}", {"Accept": ACCEPT})
        digest = resp.headers.get("Docker-Content-Digest", "")
        if digest:
            digest = self._digest(digest, what, "Docker-Content-Digest")
        manifest = self._json(resp, f"manifest of {what}")
        media = str(manifest.get("mediaType") or resp.headers.get("Content-Type", "").split(";")[0])
        if media in INDEXES or "manifests" in manifest:
            child = self._pick_platform(manifest, what)
            resp = self._get(
                f"/v2/{repository}/manifests/{child}",
                f"read the {self.platform} manifest of {what}",
                {"Accept": ACCEPT},
            )
            manifest = self._json(resp, f"{self.platform} manifest of {what}")
        config = manifest.get("config")
        if not isinstance(config, dict) or not isinstance(config.get("digest"), str):
            raise RegistryError(f"malformed manifest of {what} at {self.base}: no config descriptor")
        config_digest = self._digest(config["digest"], what, "config digest")
        blob = self._json(
            self._get(f"/v2/{repository}/blobs/{config_digest}", f"read the config of {what}"),
            f"config of {what}",
        )
        labels = ((blob.get("config") or {}).get("Labels")) or {}
        return ImageInfo(
            tag,
            digest or config_digest,
            epoch(blob.get("created")),
            {str(k): str(v) for k, v in labels.items()} if isinstance(labels, dict) else {},
        )

    # -- plumbing -----------------------------------------------------------------------------
    def _digest(self, value: Any, what: str, field_name: str) -> str:
        """VALUE if it is a digest (sha256: and 64 lowercase hex digits): what the registry says
        reaches a URL, the deploy's command line and Ansible only once it is known to be one."""
        if isinstance(value, str) and DIGEST.fullmatch(value):
            return value
        if not value:
            raise RegistryError(f"{self.base} gave no {field_name} for {what}")
        raise RegistryError(
            f"{self.base} gave a malformed {field_name} for {what}: not sha256: and 64 lowercase hex digits"
        )

    def _pick_platform(self, index: dict[str, Any], what: str) -> str:
        os_, _, arch = self.platform.partition("/")
        arch, _, variant = arch.partition("/")
        for m in index.get("manifests") or []:
            p = m.get("platform") or {} if isinstance(m, dict) else {}
            if p.get("os") == os_ and p.get("architecture") == arch and (not variant or p.get("variant") == variant):
                return self._digest(m.get("digest"), what, f"{self.platform} manifest digest")
        offered = ", ".join(
            f"{(m.get('platform') or {}).get('os')}/{(m.get('platform') or {}).get('architecture')}"
            for m in index.get("manifests") or []
            if isinstance(m, dict)
        )
        raise RegistryError(f"{what} has no {self.platform} image (the index offers: {offered or 'nothing'})")

    def _get(self, path: str, what: str, headers: Optional[dict[str, str]] = None) -> requests.Response:
        return self._request("GET", path, what, headers or {})

    def put_tag(self, repository: str, digest: str, tag: str) -> str:
        """Point TAG of REPOSITORY at the manifest DIGEST (canary promotion's channel and block tags):
        the same manifest, byte for byte and with its media type, PUT under TAG; no layer moves.
        Needs push rights. Returns the digest the registry answered (DIGEST)."""
        what = f"{repository}@{digest[:19]} as {repository}:{tag}"
        src = self._get(f"/v2/{repository}/manifests/{digest}", f"read the manifest of {what}", {"Accept": ACCEPT})
        media = src.headers.get("Content-Type", "").split(";")[0].strip() or DOCKER_MANIFEST
        resp = self._request(
            "PUT", f"/v2/{repository}/manifests/{tag}", f"tag {what}", {"Content-Type": media}, data=src.content
        )
        answered = resp.headers.get("Docker-Content-Digest", "") or digest
        return self._digest(answered, what, "Docker-Content-Digest")

    def _request(
        self, method: str, path: str, what: str, headers: dict[str, str], data: Optional[bytes] = None
    ) -> requests.Response:
        """One request; a 401 challenge (basic or bearer) is answered once, by the session's auth."""
        timeout = self.settings.timeout
        self._what = what  # named in the token service's errors
        url = urljoin(self.base, path)
        if peers.origin(url) != peers.origin(self.base):  # a path like //host/... names another host
            raise RegistryError(f"refused to send a request for {what} to {peers.shown(url)}: not {self.base}")
        try:
            for _ in range(2):
                resp = self._session.request(
                    method, url, headers=headers, data=data, timeout=timeout, verify=self._verify
                )
                if resp.status_code != 401 or not self._auth.answer(resp):
                    break
        except peers.PeerRefused as exc:
            raise RegistryError(f"{exc} ({what})") from None
        except self._rq.exceptions.SSLError as exc:
            if _not_tls(exc):
                raise RegistryError(
                    f"{self.base} does not speak TLS ({what}): it answers in plain HTTP; if it really is "
                    "unencrypted, use http:// with [registry] allow_http = true"
                ) from None
            raise RegistryError(f"TLS verification of {self.base} failed ({what}): {_ssl_reason(exc)}") from None
        except self._rq.exceptions.ConnectTimeout:
            raise RegistryError(f"{self.base} did not accept a connection within {timeout:g} s ({what})") from None
        except self._rq.exceptions.ReadTimeout:
            raise RegistryError(f"{self.base} did not answer within {timeout:g} s ({what})") from None
        except self._rq.exceptions.ConnectionError as exc:
            reason = "connection refused" if "refused" in str(exc).lower() else "cannot connect"
            raise RegistryError(f"{reason} to registry {self.base} ({what})") from None
        except self._rq.exceptions.RequestException as exc:
            raise RegistryError(f"request to {self.base} failed ({what}): {type(exc).__name__}") from None
        if resp.status_code == 401:
            if self._credentials is None:
                raise RegistryError(
                    f"{self.base} refused anonymous access (401) to {what}: credentials are sent only to the "
                    "registry [registry] url names (with username and password_file)"
                )
            raise RegistryError(
                f"{self.base} refused user {self.settings.username!r} (401) to {what}: "
                "check [registry] username and password_file"
            )
        if resp.status_code == 403:
            raise RegistryError(f"{self.base} denied access (403) to {what}")
        if resp.status_code == 404:
            raise NotFound(f"{self.base} answered 404 to {what}: {_error_text(resp) or 'not found'}")
        if resp.status_code >= 400:
            raise RegistryError(
                f"{self.base} answered HTTP {resp.status_code} to {what}"
                + (f": {_error_text(resp)}" if _error_text(resp) else "")
            )
        return resp

    def bearer_token(self, challenge: str, scope: str) -> str:
        """The token a ``WWW-Authenticate: Bearer`` challenge asks for, from its token service,
        with the credentials only where they may go."""
        what = self._what
        params = dict(re.findall(r'(\w+)="([^"]*)"', challenge))
        realm = params.pop("realm", "")
        if peers.scheme(realm) not in ("https", "http"):
            raise RegistryError(f"{self.base} asked for a bearer token without a usable realm ({what})")
        realm_host = (urlsplit(realm).hostname or "").lower()
        if peers.scheme(realm) == "http" and not self.settings.allow_http:
            raise RegistryError(
                f"{self.base} sends us to a token service on plain HTTP ({realm}): refused, the credentials "
                "would travel in clear; set [registry] allow_http = true only if that is really intended"
            )
        if (
            self._credentials is not None
            and realm_host != (urlsplit(self.base).hostname or "").lower()
            and realm_host not in (h.lower() for h in self.settings.token_hosts)
        ):
            raise RegistryError(
                f"{self.base} sends us to a token service on another host ({realm_host}): the credentials "
                "go there only if [registry] token_hosts names it"
            )
        if scope and "scope" not in params:
            params["scope"] = scope
        try:
            resp = self._token_session.get(
                realm, params=params, auth=self._credentials, timeout=self.settings.timeout, verify=self._verify
            )
        except peers.PeerRefused as exc:
            raise RegistryError(f"the token service {realm} was refused ({what}): {exc}") from None
        except self._rq.exceptions.RequestException as exc:
            raise RegistryError(f"the token service {realm} failed ({what}): {type(exc).__name__}") from None
        if resp.status_code in (401, 403):
            raise RegistryError(
                f"the token service {realm} refused user {self.settings.username!r} ({resp.status_code}) to {what}"
            )
        if resp.status_code >= 400:
            raise RegistryError(f"the token service {realm} answered HTTP {resp.status_code} ({what})")
        doc = self._json(resp, "token")
        token = doc.get("token") or doc.get("access_token")
        if not isinstance(token, str) or not token:
            raise RegistryError(f"the token service {realm} gave no token ({what})")
        return token

    def _json(self, resp: requests.Response, what: str) -> dict[str, Any]:
        try:
            doc = json.loads(resp.content)
        except ValueError:
            raise RegistryError(f"malformed answer from {self.base} ({what}): not JSON") from None
        if not isinstance(doc, dict):
            raise RegistryError(f"malformed answer from {self.base} ({what}): not a JSON object")
        return doc


def _origin(url: str) -> str:
    parts = urlsplit(url if "://" in url else "https://" + url)
    return f"{parts.scheme}://{parts.netloc.lower()}"


def settings_for(configured: RegistrySettings, url: str) -> RegistrySettings:
    """The settings to talk to the registry at URL. The credentials go only to the registry that
    ``[registry] url`` names: a registry named by a poller's image reference (or another
    --registry) is asked anonymously, so whoever controls a poller cannot collect the password."""
    if configured.url and _origin(configured.url) == _origin(url):
        return record.replace(configured, url=url)
    return record.replace(configured, url=url, username="", password_file=None)


def registry_base(settings: RegistrySettings) -> str:
    """scheme://host[:port] of the configured registry; plain http only where the config allows it."""
    url = settings.url
    if not url:
        raise ConfigError("no registry is configured: set [registry] url or give --registry")
    if "://" not in url:
        url = "https://" + url
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.netloc:
        raise ConfigError(f"registry URL {settings.url!r} must be https://HOST[:PORT]")
    if parts.scheme == "http" and not settings.allow_http:
        raise ConfigError(f"registry {url} is plain HTTP: set [registry] allow_http = true if it really is unencrypted")
    return f"{parts.scheme}://{parts.netloc}"


_SCOPED = re.compile(r"/v2/(?P<repository>.+?)/(?:tags|manifests|blobs)/")


def _scope(url: str) -> str:
    """The token scope a registry URL needs: repository:NAME:pull ('' for /v2/ itself)."""
    m = _SCOPED.match(urlsplit(url).path)
    return f"repository:{m['repository']}:pull" if m else ""


def _registry_auth(client: RegistryClient) -> Any:
    """requests' auth for CLIENT: nothing until the registry challenges; then the bearer token
    the challenge's token service gives (kept per scope), or basic credentials where the registry
    asks for them (credentials exist only for the configured registry: settings_for)."""
    import requests

    class RegistryAuth(requests.auth.AuthBase):
        def __init__(self) -> None:
            self.tokens: dict[str, str] = {}
            self.basic = False

        def __call__(self, r: requests.PreparedRequest) -> requests.PreparedRequest:
            token = self.tokens.get(_scope(str(r.url)))
            if token:
                r.headers["Authorization"] = f"Bearer {token}"
            elif self.basic and client._credentials is not None:
                requests.auth.HTTPBasicAuth(*client._credentials)(r)
            return r

        def answer(self, resp: requests.Response) -> bool:
            """Learn what RESP's 401 challenge asks for; whether the request is worth sending again."""
            challenge = resp.headers.get("WWW-Authenticate", "")
            if challenge.lower().startswith("bearer"):
                scope = _scope(str(resp.request.url))
                if scope in self.tokens:
                    return False  # the token we have was refused: asking again changes nothing
                self.tokens[scope] = client.bearer_token(challenge, scope)
                return True
            if client._credentials is not None and not self.basic:
                self.basic = True
                return True
            return False

    return RegistryAuth()


def _error_text(resp: requests.Response) -> str:
    try:
        doc = json.loads(resp.content)
        errors = doc.get("errors") if isinstance(doc, dict) else None
        if isinstance(errors, list) and errors and isinstance(errors[0], dict):
            return plain(str(errors[0].get("message") or errors[0].get("code") or "")[:160])
    except ValueError:
        pass
    return ""


def _not_tls(exc: BaseException) -> bool:
    """The server answered our TLS hello in plain text (OpenSSL 1.1 and 3 word it differently)."""
    text = str(exc).upper()
    return any(
        k in text for k in ("WRONG_VERSION_NUMBER", "HTTP_REQUEST", "RECORD LAYER FAILURE", "RECORD_LAYER_FAILURE")
    )


def _ssl_reason(exc: BaseException) -> str:
    text = str(exc)
    m = re.search(r"certificate verify failed: ([^(\)']+)", text)
    if m:
        return m.group(1).strip()
    m = re.search(r"\[SSL: ([A-Z_]+)\]", text)
    return m.group(1).lower().replace("_", " ") if m else "TLS error"
