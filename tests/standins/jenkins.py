"""A Jenkins stand-in, written from Jenkins' remote-API documentation (no Jenkins can run here).

It serves what the suite uses and refuses what real Jenkins refuses:

- every request needs HTTP basic auth with a known user and API token: a wrong token -> 401,
  no credentials -> 403 (anonymous has no Overall/Read);
- ``GET /crumbIssuer/api/json`` -> ``{"crumb": ..., "crumbRequestField": "Jenkins-Crumb"}``;
  a POST without that header -> 403 "No valid crumb was included in the request";
- ``POST /job/NAME/buildWithParameters?P=V`` -> ``201`` + ``Location: .../queue/item/N/``;
  an unknown job -> 404, an unknown parameter is ignored as Jenkins does, ``/build`` on a
  parameterized job -> 400;
- queue item -> (after a quiet period, when an executor is free) executable build -> result,
  through ``/queue/api/json``, ``/queue/item/N/api/json``, ``/job/NAME/api/json`` (builds with
  their parameters) and ``/job/NAME/B/api/json``;
- jobs may be throttled (``max_concurrent``, ``one_per`` parameter) as the Throttle Concurrent
  Builds plugin does: a build that would exceed them stays in the queue with a ``why``.

A build either runs a command and succeeds when it exits 0, or sleeps ``duration`` seconds and
ends with ``result`` (a job that "succeeds" without doing anything). A command runs as a Jenkins
``sh`` step does: in the job's workspace (``cwd``), with the agent's environment (``env``: the
node's and the Jenkinsfile's ``environment`` block), each build parameter as an environment
variable (a parameter the trigger did not send gets the job's default, as Jenkins fills it in; a
parameter whose value is empty is left out, as Jenkins' ``EnvVars.override`` drops an empty value,
so the agent's own variable of that name, if any, is what the step sees), and ``BUILD_NUMBER``,
``BUILD_ID``, ``JOB_NAME``, ``WORKSPACE``. ``{PARAM}`` in argv is replaced
by the parameter's value (no shell).

Use it in-process (``JenkinsStandin(...).start()``) or as a program:
``python -m tests.standins.jenkins --port 0 --config jobs.json --port-file F``.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import secrets
import ssl
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Optional
from urllib.parse import parse_qs, unquote, urlsplit


@dataclass
class Job:
    name: str
    parameters: list[str] = field(default_factory=list)
    command: Optional[list[str]] = None
    duration: float = 0.5
    result: str = "SUCCESS"
    max_concurrent: int = 0  # 0 = no throttle
    one_per: str = ""  # parameter whose value may have only one build at a time
    log_dir: Optional[str] = None
    defaults: dict[str, str] = field(default_factory=dict)  # parameter defaults, as the job defines them
    env: Optional[dict[str, str]] = None  # the agent's environment (None: this process's)
    cwd: Optional[str] = None  # the workspace


@dataclass
class Build:
    job: str
    number: int
    params: dict[str, str]
    queue_id: int
    started: float
    building: bool = True
    result: Optional[str] = None
    duration_ms: int = 0


@dataclass
class QueueItem:
    id: int
    job: str
    params: dict[str, str]
    since: float
    build: Optional[Build] = None
    why: str = "In the quiet period."


class JenkinsStandin:
    """The server; ``builds`` and ``queue`` are there for tests to read."""

    def __init__(
        self,
        users: dict[str, str],
        jobs: list[Job],
        executors: int = 4,
        quiet_period: float = 0.2,
        require_crumb: bool = True,
        tls: Optional[tuple[str, str]] = None,
    ) -> None:
        self.users = users
        self.tls = tls  # (certificate, key): serve https, as a Jenkins behind its TLS front does
        self.jobs = {j.name: j for j in jobs}
        self.executors = executors
        self.quiet_period = quiet_period
        self.require_crumb = require_crumb
        self.crumb = secrets.token_hex(16)
        self.lock = threading.RLock()
        self.queue: dict[int, QueueItem] = {}
        self.builds: list[Build] = []
        self.requests: list[tuple[str, str]] = []
        self._next_queue = 100
        self._next_build: dict[str, int] = {}
        self._server: Optional[ThreadingHTTPServer] = None
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    # -- lifecycle ----------------------------------------------------------------------------
    def start(self, port: int = 0) -> JenkinsStandin:
        """Listen (again, after stop(): a restarted Jenkins keeps its builds and queue numbering)."""
        self._stop.clear()
        standin = self

        class Handler(_Handler):
            server_standin = standin

        self._server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        if self.tls:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(*self.tls)
            self._server.socket = ctx.wrap_socket(self._server.socket, server_side=True)
        self._server.daemon_threads = True
        for target in (self._server.serve_forever, self._scheduler):
            t = threading.Thread(target=target, daemon=True)
            t.start()
            self._threads.append(t)
        return self

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self._server.server_address[1]}/"

    def stop(self) -> None:
        self._stop.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    # -- what tests look at -------------------------------------------------------------------
    def builds_of(self, job: str) -> list[Build]:
        with self.lock:
            return [b for b in self.builds if b.job == job]

    def triggered(self, job: str) -> list[dict[str, str]]:
        """Parameters of every trigger of JOB, queued or built, in order."""
        with self.lock:
            return [dict(q.params) for q in sorted(self.queue.values(), key=lambda q: q.id) if q.job == job]

    def wait_idle(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                busy = any(q.build is None or q.build.building for q in self.queue.values())
            if not busy:
                return
            time.sleep(0.05)
        raise TimeoutError("the stand-in still has queued or running builds")

    # -- the scheduler: queue -> build -> result -------------------------------------------------
    def _scheduler(self) -> None:
        while not self._stop.is_set():
            with self.lock:
                running = [b for b in self.builds if b.building]
                for item in sorted(self.queue.values(), key=lambda q: q.id):
                    if item.build is not None:
                        continue
                    job = self.jobs[item.job]
                    if time.time() - item.since < self.quiet_period:
                        continue
                    why = self._blocked(job, item, running)
                    if why:
                        item.why = why
                        continue
                    number = self._next_build.get(job.name, 0) + 1
                    self._next_build[job.name] = number
                    build = Build(job.name, number, dict(item.params), item.id, time.time())
                    item.build, item.why = build, ""
                    self.builds.append(build)
                    running.append(build)
                    threading.Thread(target=self._run, args=(job, build), daemon=True).start()
            time.sleep(0.05)

    def _blocked(self, job: Job, item: QueueItem, running: list[Build]) -> str:
        if len(running) >= self.executors:
            return "Waiting for next available executor"
        same_job = [b for b in running if b.job == job.name]
        if job.max_concurrent and len(same_job) >= job.max_concurrent:
            return f"Already running {len(same_job)} builds across all nodes"
        if job.one_per and any(b.params.get(job.one_per) == item.params.get(job.one_per) for b in same_job):
            return f"A build with {job.one_per}={item.params.get(job.one_per)} is already running"
        return ""

    def _run(self, job: Job, build: Build) -> None:
        start = time.monotonic()
        if job.command:
            argv = [part.format(**build.params) for part in job.command]
            log = None
            if job.log_dir:
                Path(job.log_dir).mkdir(parents=True, exist_ok=True)
                log = open(Path(job.log_dir) / f"{job.name}-{build.number}.log", "wb")
            env = {
                **(os.environ if job.env is None else job.env),
                **{k: v for k, v in build.params.items() if v != ""},
                "BUILD_NUMBER": str(build.number),
                "BUILD_ID": str(build.number),
                "JOB_NAME": job.name,
                "WORKSPACE": job.cwd or os.getcwd(),
            }
            try:
                rc = subprocess.run(
                    argv,
                    stdout=log or subprocess.DEVNULL,
                    stderr=subprocess.STDOUT,
                    check=False,
                    env=env,
                    cwd=job.cwd,
                    stdin=subprocess.DEVNULL,
                ).returncode
            finally:
                if log:
                    log.close()
            result = "SUCCESS" if rc == 0 else "FAILURE"
        else:
            time.sleep(job.duration)
            result = job.result
        with self.lock:
            build.result, build.building = result, False
            build.duration_ms = int((time.monotonic() - start) * 1000)

    # -- API documents ----------------------------------------------------------------------------
    def _params_action(self, params: dict[str, str]) -> dict[str, Any]:
        return {
            "_class": "hudson.model.ParametersAction",
            "parameters": [
                {"_class": "hudson.model.StringParameterValue", "name": k, "value": v} for k, v in params.items()
            ],
        }

    def queue_doc(self, item: QueueItem) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "_class": "hudson.model.Queue$WaitingItem" if item.build is None else "hudson.model.Queue$LeftItem",
            "id": item.id,
            "actions": [self._params_action(item.params)],
            "blocked": bool(item.why),
            "buildable": item.build is None,
            "inQueueSince": int(item.since * 1000),
            "stuck": False,
            # in the queue a job in a folder is named by its short name; its URL says which one it is
            "task": {
                "_class": "hudson.model.FreeStyleProject",
                "name": item.job.rsplit("/", 1)[-1],
                "url": f"{self.url}{_job_path(item.job)}",
            },
            "url": f"queue/item/{item.id}/",
            "why": item.why or None,
            "cancelled": False,
        }
        if item.build is not None:
            doc["executable"] = {
                "_class": "hudson.model.FreeStyleBuild",
                "number": item.build.number,
                "url": f"{self.url}{_job_path(item.job)}{item.build.number}/",
            }
        return doc

    def build_doc(self, b: Build) -> dict[str, Any]:
        return {
            "_class": "hudson.model.FreeStyleBuild",
            "number": b.number,
            "building": b.building,
            "result": b.result,
            "timestamp": int(b.started * 1000),
            "duration": b.duration_ms,
            "queueId": b.queue_id,
            "url": f"{self.url}{_job_path(b.job)}{b.number}/",
            "actions": [self._params_action(b.params), {"_class": "hudson.model.CauseAction"}],
        }

    def job_doc(self, job: Job) -> dict[str, Any]:
        builds = sorted(self.builds_of(job.name), key=lambda b: -b.number)
        return {
            "_class": "hudson.model.FreeStyleProject",
            "name": job.name.rsplit("/", 1)[-1],
            "fullName": job.name,
            "url": f"{self.url}{_job_path(job.name)}",
            "buildable": True,
            "inQueue": any(q.job == job.name and q.build is None for q in self.queue.values()),
            "nextBuildNumber": self._next_build.get(job.name, 0) + 1,
            "builds": [self.build_doc(b) for b in builds],
            "property": [
                {
                    "_class": "hudson.model.ParametersDefinitionProperty",
                    "parameterDefinitions": [{"name": p, "type": "StringParameterDefinition"} for p in job.parameters],
                }
            ],
        }


class _Handler(BaseHTTPRequestHandler):
    server_standin: JenkinsStandin
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        return

    def _send(self, status: int, body: Any = None, headers: Optional[dict[str, str]] = None) -> None:
        data = b"" if body is None else (json.dumps(body) if not isinstance(body, str) else body).encode()
        self.send_response(status)
        self.send_header("X-Jenkins", "2.440.3")
        self.send_header(
            "Content-Type", "application/json;charset=utf-8" if not isinstance(body, str) else "text/html;charset=utf-8"
        )
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def _auth(self) -> bool:
        s = self.server_standin
        header = self.headers.get("Authorization", "")
        if not header.startswith("Basic "):
            self._send(
                403,
                "<html><body>Authentication required</body></html>",
                {"X-You-Are-Authenticated-As": "anonymous", "X-Required-Permission": "hudson.model.Hudson.Read"},
            )
            return False
        try:
            user, _, token = base64.b64decode(header[6:]).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            user, token = "", ""
        if s.users.get(user) != token or not token:
            self._send(
                401,
                "<html><body>Invalid password/token for user: " + user + "</body></html>",
                {"WWW-Authenticate": 'Basic realm="Jenkins"'},
            )
            return False
        return True

    def do_GET(self) -> None:
        s = self.server_standin
        url = urlsplit(self.path)
        with s.lock:
            s.requests.append(("GET", url.path))
        if not self._auth():
            return
        parts = [unquote(p) for p in url.path.strip("/").split("/") if p]
        with s.lock:
            if parts == ["api", "json"]:
                return self._send(200, {"mode": "NORMAL", "jobs": [{"name": n} for n in s.jobs]})
            if parts == ["crumbIssuer", "api", "json"]:
                return self._send(
                    200,
                    {
                        "_class": "hudson.security.csrf.DefaultCrumbIssuer",
                        "crumb": s.crumb,
                        "crumbRequestField": "Jenkins-Crumb",
                    },
                )
            if parts == ["queue", "api", "json"]:
                items = [s.queue_doc(q) for q in sorted(s.queue.values(), key=lambda q: q.id) if q.build is None]
                return self._send(200, {"_class": "hudson.model.Queue", "items": items})
            if len(parts) == 5 and parts[:2] == ["queue", "item"] and parts[3:] == ["api", "json"]:
                item = s.queue.get(int(parts[2])) if parts[2].isdigit() else None
                return self._send(200, s.queue_doc(item)) if item else self._send(404, "<html>Not Found</html>")
            name, rest = _split_job(parts)
            if name and rest[-2:] == ["api", "json"]:
                job = s.jobs.get(name)
                if job is None:
                    return self._send(404, "<html>Not Found</html>")
                if len(rest) == 2:
                    return self._send(200, s.job_doc(job))
                if len(rest) == 3 and rest[0].isdigit():
                    found = [b for b in s.builds_of(job.name) if b.number == int(rest[0])]
                    return (
                        self._send(200, s.build_doc(found[0])) if found else self._send(404, "<html>Not Found</html>")
                    )
        self._send(404, "<html>Not Found</html>")

    def do_POST(self) -> None:
        s = self.server_standin
        url = urlsplit(self.path)
        with s.lock:
            s.requests.append(("POST", url.path))
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        if not self._auth():
            return
        if s.require_crumb and self.headers.get("Jenkins-Crumb") != s.crumb:
            return self._send(403, "<html><body>No valid crumb was included in the request</body></html>")
        parts = [unquote(p) for p in url.path.strip("/").split("/") if p]
        name, rest = _split_job(parts)
        if not name or len(rest) != 1 or rest[0] not in ("build", "buildWithParameters"):
            return self._send(404, "<html>Not Found</html>")
        job = s.jobs.get(name)
        if job is None:
            return self._send(404, "<html>Not Found</html>")
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        query.update({k: v[-1] for k, v in parse_qs(body.decode("utf-8", "replace")).items()})
        if rest[0] == "build" and job.parameters:
            return self._send(400, "<html>Nothing is submitted</html>")
        # unknown parameters are dropped and missing ones take the job's default, as Jenkins does
        params = {p: query.get(p, job.defaults.get(p, "")) for p in job.parameters}
        with s.lock:
            # Jenkins folds an identical item that is still waiting in the queue into the existing one.
            for q in s.queue.values():
                if q.job == job.name and q.build is None and q.params == params:
                    return self._send(201, None, {"Location": f"{s.url}queue/item/{q.id}/"})
            s._next_queue += 1
            item = QueueItem(s._next_queue, job.name, params, time.time())
            s.queue[item.id] = item
        self._send(201, None, {"Location": f"{s.url}queue/item/{item.id}/"})


def _job_path(name: str) -> str:
    """job/team/job/deploy/ for the job team/deploy (a job in a folder), job/deploy/ for deploy."""
    return "".join(f"job/{part}/" for part in name.split("/"))


def _split_job(parts: list[str]) -> tuple[str, list[str]]:
    """["job", "team", "job", "deploy", "api", "json"] -> ("team/deploy", ["api", "json"])."""
    names: list[str] = []
    i = 0
    while i + 1 < len(parts) and parts[i] == "job":
        names.append(parts[i + 1])
        i += 2
    return "/".join(names), parts[i:]


def main(argv: Optional[list[str]] = None) -> int:
    p = argparse.ArgumentParser(description="Run the Jenkins stand-in on 127.0.0.1.")
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--config", required=True, help="JSON: {users: {user: token}, jobs: [Job fields], executors}")
    p.add_argument("--port-file", help="write the port here once listening")
    args = p.parse_args(argv)
    cfg = json.loads(Path(args.config).read_text())
    standin = JenkinsStandin(
        cfg["users"],
        [Job(**j) for j in cfg["jobs"]],
        executors=cfg.get("executors", 4),
        quiet_period=cfg.get("quiet_period", 0.2),
    ).start(args.port)
    if args.port_file:
        Path(args.port_file).write_text(standin.url.rsplit(":", 1)[1].strip("/"))
    print(f"jenkins stand-in on {standin.url}", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        standin.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
