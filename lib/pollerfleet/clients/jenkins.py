"""The Jenkins that builds images and deploys pollers, through its remote API (python-jenkins).

Only what the handlers need: trigger a parameterized job, see which builds of a job are queued
or running (and for which host or version, by their parameters), read results. The API token is
read from the file the config names and never appears in a message. Every call has a timeout;
every failure is a JenkinsError with one line for the operator.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Optional
from urllib.parse import quote, urlsplit

import jenkins
import requests

from pollerfleet.clients import peers
from pollerfleet.core import verbosity
from pollerfleet.core.config import ConfigError, JenkinsSettings, read_secret
from pollerfleet.core.names import plain

MAX_ANSWER = 16 * 1024 * 1024  # bytes in one answer: the builds of a job, its queue, one build


class JenkinsError(Exception):
    """Jenkins could not be asked, or refused; str() is the operator's reason (no secrets)."""

    maybe_sent = False  # the request may have reached Jenkins (no answer in time): a trigger may exist


def _unanswered(message: str) -> JenkinsError:
    err = JenkinsError(message)
    err.maybe_sent = True
    return err


@dataclass(frozen=True)
class BuildRef:
    """One queued or finished/running build of a job, with its parameters."""

    job: str
    params: dict[str, str]
    queue_id: Optional[int] = None
    number: Optional[int] = None
    building: bool = False
    result: Optional[str] = None  # SUCCESS, FAILURE, ABORTED, UNSTABLE; None while queued/running
    why: str = ""

    @property
    def active(self) -> bool:
        """Queued, or running: not finished."""
        return self.number is None or self.building


_BUILDS_TREE = "builds[number,building,result,queueId,actions[parameters[name,value]]]{0,%d}"


def _params(actions: Any) -> dict[str, str]:
    out: dict[str, str] = {}
    for action in actions or []:
        if isinstance(action, dict):
            for p in action.get("parameters") or []:
                if isinstance(p, dict) and "name" in p:
                    out[str(p["name"])] = str(p.get("value", ""))
    return out


class JenkinsClient:
    """A client for one Jenkins, from the [jenkins] config section."""

    def __init__(self, settings: JenkinsSettings) -> None:
        if not settings.url:
            raise ConfigError("no Jenkins is configured: set [jenkins] url")
        if peers.scheme(settings.url) not in ("https", "http"):
            raise ConfigError(f"[jenkins] url {settings.url!r} must start with https:// (or http://)")
        if peers.scheme(settings.url) == "http" and not settings.allow_http:
            raise ConfigError(
                f"Jenkins {settings.url} is plain HTTP: the API token would travel in clear; set "
                "[jenkins] allow_http = true only if it really is unencrypted"
            )
        token = read_secret(settings.token_file, "Jenkins API token")
        self.settings = settings
        self.url = settings.url.rstrip("/") + "/"
        self._server = jenkins.Jenkins(self.url, settings.user or None, token, timeout=settings.timeout)
        verbosity.attach(peers.guard(self._server._session, MAX_ANSWER))
        # always set: python-jenkins turns verification off when PYTHONHTTPSVERIFY=0 is in the environment
        self._server._session.verify = str(settings.ca_file) if settings.ca_file else True

    # -- calls --------------------------------------------------------------------------------
    def trigger(self, job: str, params: dict[str, str]) -> int:
        """Queue a build of JOB with PARAMS; return the queue item number."""
        return int(self._call(f"trigger {job}", self._server.build_job, job, params))

    def queued(self, job: str) -> list[BuildRef]:
        items = self._call(f"read the queue of {job}", self._server.get_queue_info)
        if not isinstance(items, list):
            raise JenkinsError(f"malformed answer from Jenkins at {self.url}: the queue has no items list")
        out = []
        for item in items:
            if not isinstance(item, dict) or not self._is_job(item.get("task"), job):
                continue
            out.append(
                BuildRef(
                    job, _params(item.get("actions")), queue_id=_int(item.get("id")), why=str(item.get("why") or "")
                )
            )
        return out

    def builds(self, job: str, limit: int = 50) -> list[BuildRef]:
        """The last LIMIT builds of JOB, newest first, with their parameters (one request)."""
        path = f"{job_path(job)}api/json?tree={quote(_BUILDS_TREE % limit, safe='[],{}')}"
        doc = self._json(path, f"read the builds of {job}")
        builds = doc.get("builds") if isinstance(doc, dict) else None
        if not isinstance(builds, list):
            raise JenkinsError(f"malformed answer from Jenkins at {self.url}: job {job} has no builds list")
        out = [
            BuildRef(
                job,
                _params(b.get("actions")),
                queue_id=_int(b.get("queueId")),
                number=_int(b.get("number")),
                building=bool(b.get("building")),
                result=b.get("result"),
            )
            for b in builds
            if isinstance(b, dict)
        ]
        return sorted(out, key=lambda b: -(b.number or 0))

    def active(self, job: str) -> list[BuildRef]:
        """Queued and running builds of JOB."""
        return self.queued(job) + [b for b in self.builds(job) if b.building]

    def queue_item(self, queue_id: int) -> BuildRef:
        doc = self._call(f"read queue item {queue_id}", self._server.get_queue_item, int(queue_id))
        if not isinstance(doc, dict):
            raise JenkinsError(f"malformed answer from Jenkins at {self.url} to queue item {queue_id}")
        task = (doc.get("task") or {}).get("name", "")
        executable = doc.get("executable") or {}
        number = _int(executable.get("number")) if isinstance(executable, dict) else None
        if doc.get("cancelled"):
            return BuildRef(task, _params(doc.get("actions")), queue_id, number, False, "CANCELLED")
        return BuildRef(
            task, _params(doc.get("actions")), queue_id, number, number is not None, None, str(doc.get("why") or "")
        )

    def build(self, job: str, number: int) -> BuildRef:
        doc = self._call(f"read {job} #{number}", self._server.get_build_info, job, int(number))
        if not isinstance(doc, dict):
            raise JenkinsError(f"malformed answer from Jenkins at {self.url} to {job} #{number}")
        return BuildRef(
            job,
            _params(doc.get("actions")),
            _int(doc.get("queueId")),
            number,
            bool(doc.get("building")),
            doc.get("result"),
        )

    def _is_job(self, task: Any, job: str) -> bool:
        """Whether a queue item's task is JOB: a job in a folder (team/deploy) is named by its
        short name in the queue, and told apart by its URL."""
        if not isinstance(task, dict):
            return False
        url = str(task.get("url") or "")
        if not url:
            return task.get("name") == job
        return urlsplit(url).path == urlsplit(self.url).path + job_path(job)

    # -- plumbing -----------------------------------------------------------------------------
    def _json(self, path: str, what: str) -> Any:
        text = self._call(what, self._server.jenkins_open, requests.Request("GET", self.url + path))
        try:
            return json.loads(text)
        except ValueError:
            raise JenkinsError(f"malformed answer from Jenkins at {self.url} to {what}: not JSON") from None

    def _call(self, what: str, func: Any, *args: Any) -> Any:
        try:
            return func(*args)
        except peers.PeerRefused as exc:
            raise JenkinsError(f"Jenkins at {self.url}: {exc} ({what})") from None
        except jenkins.NotFoundException:
            raise JenkinsError(f"Jenkins at {self.url} answered 404 to {what}: no such job or item") from None
        except jenkins.TimeoutException:
            raise _unanswered(
                f"Jenkins at {self.url} did not answer within {self.settings.timeout:g} s ({what})"
            ) from None
        except jenkins.EmptyResponseException:
            raise JenkinsError(f"Jenkins at {self.url} gave no queue location when asked to {what}") from None
        except jenkins.JenkinsException as exc:
            raise JenkinsError(self._http_reason(exc, what)) from None
        except requests.exceptions.SSLError as exc:
            raise JenkinsError(
                f"TLS verification of Jenkins at {self.url} failed ({what}): {_first_line(exc)}"
            ) from None
        except requests.exceptions.ConnectionError:
            raise JenkinsError(
                f"cannot connect to Jenkins at {self.url} ({what}): connection refused or host unreachable"
            ) from None
        except requests.exceptions.Timeout:
            raise _unanswered(
                f"Jenkins at {self.url} did not answer within {self.settings.timeout:g} s ({what})"
            ) from None
        except requests.exceptions.HTTPError as exc:
            raise JenkinsError(self._http_reason(exc, what)) from None
        except requests.exceptions.RequestException as exc:
            raise JenkinsError(f"request to Jenkins at {self.url} failed ({what}): {type(exc).__name__}") from None
        except json.JSONDecodeError:
            raise JenkinsError(f"malformed answer from Jenkins at {self.url} to {what}: not JSON") from None
        except (ValueError, TypeError) as exc:
            raise JenkinsError(f"malformed answer from Jenkins at {self.url} to {what}: {exc}") from None

    def _http_reason(self, exc: BaseException, what: str) -> str:
        # a requests Response is falsy for 4xx/5xx: test against None, not truthiness
        response = getattr(exc, "response", None)
        if response is None:
            response = getattr(exc.__context__, "response", None)

        status = getattr(response, "status_code", None)
        body = (getattr(response, "text", "") or "").lower()
        if status == 401:
            return (
                f"Jenkins at {self.url} refused the credentials of user {self.settings.user!r} (401): "
                "check the API token file"
            )
        if status == 403 and "crumb" in body:
            return f"Jenkins at {self.url} refused the request without a valid CSRF crumb (403) ({what})"
        if status == 403:
            return (
                f"Jenkins at {self.url} denied user {self.settings.user!r} permission to {what} (403): "
                "it needs Overall/Read, Job/Read and Job/Build"
            )
        if status is not None:
            return f"Jenkins at {self.url} answered HTTP {status} to {what}"
        return f"Jenkins at {self.url} failed to {what}: {_first_line(exc)}"


def job_path(job: str) -> str:
    """The URL path of JOB, folders included: team/deploy -> job/team/job/deploy/ (each name quoted)."""
    return "".join(f"job/{quote(part, safe='')}/" for part in job.split("/") if part)


def _int(value: Any) -> Optional[int]:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return plain(text[0][:160]) if text else type(exc).__name__
