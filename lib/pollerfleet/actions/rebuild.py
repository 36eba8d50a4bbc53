"""Image rebuilds: a new upstream centreon-engine release becomes a Jenkins build of the poller
image, once, for the handler (handle_engine_rebuild) and the operator (pollerfleet rebuild) alike."""

from __future__ import annotations

from typing import Callable, Optional

from pollerfleet.actions.decide import Action
from pollerfleet.actions.redeploy import AuditLog, Decision, StateError, StateStore
from pollerfleet.clients.jenkins import JenkinsClient, JenkinsError
from pollerfleet.clients.registry import RegistryError
from pollerfleet.clients.upstream import UpstreamError
from pollerfleet.core.config import Config, ConfigError
from pollerfleet.core.names import printable, valid_version
from pollerfleet.core.versions import Policy, parse_tag
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
        if not version:
            if not status.missing:
                return done(Action.IGNORED, status.summary())
            version = status.missing[0].version
        if not valid_version(version):
            return done(Action.REFUSED, f"{printable(version)!r} is not a release version like 19.04.5")
        wanted = parse_tag(version)
        if status.newest_image is not None and wanted is not None and status.newest_image.version >= wanted.version:
            return done(Action.SKIPPED, f"an image for {version} (or newer: {status.newest_image.tag}) already exists")
        try:
            with self.store.locked(self.cfg.redeploy.lock_timeout):
                active = [b for b in self.jenkins.active(self.job) if b.params.get(self.param) == version]
                if active:
                    b = active[0]
                    return done(
                        Action.SKIPPED,
                        f"a build of {version} is already {'queued' if b.number is None else 'running'}",
                        queue_id=b.queue_id,
                        build=b.number,
                    )
                if dry_run:
                    return done(Action.WOULD_TRIGGER, f"{self.job} with {self.param}={version}")
                queue_id = self.jenkins.trigger(self.job, {self.param: version})
        except (JenkinsError, ConfigError) as exc:
            return done(Action.ERROR, str(exc))
        except (TimeoutError, OSError, StateError) as exc:
            return done(Action.ERROR, str(exc))
        return done(Action.TRIGGERED, f"{self.job} with {self.param}={version}", queue_id=queue_id)

    def log(self, decision: Decision, **extra: object) -> Optional[str]:
        return self.audit.write(decision, **extra)
