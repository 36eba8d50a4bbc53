"""Image rebuilds: a new upstream centreon-engine release becomes a Jenkins build of the poller
image, once, for the handler (handle_engine_rebuild) and the operator (pollerfleet rebuild) alike."""

from __future__ import annotations

from typing import Callable, Optional

from pollerfleet.actions.decide import Action, decide_rebuild
from pollerfleet.actions.redeploy import Decision
from pollerfleet.actions.state import AuditLog, StateError, StateStore
from pollerfleet.clients.jenkins import BuildRef, JenkinsClient, JenkinsError
from pollerfleet.clients.registry import RegistryError
from pollerfleet.clients.upstream import UpstreamError
from pollerfleet.core.config import Config, ConfigError
from pollerfleet.core.versions import Policy
from pollerfleet.images.release import ReleaseStatus, release_status


class Rebuilder:
    def __init__(self, cfg: Config, jenkins: Optional[Callable[[], JenkinsClient]] = None) -> None:
        self.cfg = cfg
        self.job = cfg.jenkins.build_job
        self.param = cfg.jenkins.build_parameter
        self.audit = AuditLog(cfg.fleet.audit_log)
        self.store = StateStore(cfg.fleet.state_dir, "rebuild")
        self._factory = jenkins or (lambda: JenkinsClient(cfg.jenkins))
        self._jenkins: Optional[JenkinsClient] = None
        self.events: list[Decision] = []  # a rebuild observes nothing on the way; reported alike

    @property
    def jenkins(self) -> JenkinsClient:
        if self._jenkins is None:
            self._jenkins = self._factory()
        return self._jenkins

    def status(self) -> ReleaseStatus:
        u = self.cfg.upstream
        return release_status(self.cfg, u.urls, u.package, Policy(release_line=u.release_line))

    def request(self, version: str = "", dry_run: bool = False, source: str = "handler", state: str = "") -> Decision:
        """Trigger the build of VERSION (default: the newest upstream release without an image)."""

        def done(action: Action, reason: str, queue_id: Optional[int] = None, build: Optional[int] = None) -> Decision:
            return Decision(version or "(newest)", action, reason, queue_id, build, source, state, "rebuild")

        try:
            status = self.status()
        except (UpstreamError, RegistryError, ConfigError, ValueError) as exc:
            return done(Action.ERROR, str(exc))
        # decided once without Jenkins: a version that needs no build never waits for the lock or Jenkins
        version, ruling = decide_rebuild(status, version, [], self.job, self.param, dry_run)
        try:
            if ruling.action in (Action.TRIGGERED, Action.WOULD_TRIGGER):
                with self.store.locked(self.cfg.redeploy.lock_timeout):
                    active = self.jenkins.active(self.job)
                    version, ruling = decide_rebuild(status, version, active, self.job, self.param, dry_run)
                    if ruling.params is not None:
                        queue_id = self.jenkins.trigger(self.job, ruling.params)
                        return done(ruling.action, ruling.reason, queue_id=queue_id)
        except (JenkinsError, ConfigError, TimeoutError, OSError, StateError) as exc:
            return done(Action.ERROR, str(exc))
        way = ruling.on_its_way or BuildRef(self.job, {})
        return done(ruling.action, ruling.reason, way.queue_id, way.number)

    def log(self, decision: Decision, **extra: object) -> Optional[str]:
        return self.audit.write(decision, **extra)
