"""The image a poller host should run: one rule, asked by the image check, the event handler,
reconcile, ``pollerfleet status`` and the deploy job (jenkins/deploy-poller.sh) alike.

- The host's repository is the inventory's ``poller_image_repository`` (the running image's
  repository only where the inventory names none, as a check run outside the fleet does).
- An operator's hold: ``poller_image_tag`` set for the host or one of its groups pins it. The pinned
  tag, at the digest the registry serves for it now, is the desired image; nothing moves the host
  off it (the check says "held at X (newest Y)").
- Otherwise: the newest release tag under the version policy, at its current digest. A rebuild
  pushed under the same tag has another digest, so it is a new desired image.
- Canary promotion (images/promotion.py), when the inventory names canaries (``poller_canary``):
  that newest image (the candidate) goes to the canaries only; every other host's desired image
  is the last promoted one (the registry's channel tag); a blocked candidate goes to no host.

The answer is a full reference, ``repository:tag@sha256:digest``: what the deploy pulls and runs
is exactly what the check compared against.
"""

from __future__ import annotations

import contextlib
import re
import time
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, Optional

from pollerfleet.clients.docker import DockerClient
from pollerfleet.clients.regcache import RegistryCache
from pollerfleet.clients.registry import (
    ImageInfo,
    NotFound,
    RegistryClient,
    RegistryError,
    registry_base,
    settings_for,
)
from pollerfleet.core.config import Config, ConfigError, RegistrySettings
from pollerfleet.core.inventory import PollerHost
from pollerfleet.core.names import printable
from pollerfleet.core.reference import Reference, short_digest
from pollerfleet.core.versions import Policy, parse_tag
from pollerfleet.images.freshness import (
    Freshness,
    RegistryView,
    RunningImage,
    freshness,
    registry_view,
    running_image,
)
from pollerfleet.images.promotion import Channel, Choice, Stage, desired_under_promotion, soak_note
from pollerfleet.images.promotion_state import PromotionState, PromotionStateError

PIN_VAR = "poller_image_tag"
REPOSITORY_VAR = "poller_image_repository"
#: Which hosts are canaries is a fact about the whole fleet: an image check takes the host_vars
#: files' part of it from a look at most this old, so its cost stays flat with the fleet (the
#: inventory and group_vars are checked every time; the judged host's own flag is always exact).
CANARY_RECHECK_SECONDS = 60.0

_NAME = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_REGISTRY = r"[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?(?::[0-9]{1,5})?"
_REFERENCE = re.compile(
    rf"(?P<repository>(?:{_REGISTRY}/)?{_NAME}(?:/{_NAME})*):(?P<tag>[A-Za-z0-9_][A-Za-z0-9_.-]{{0,127}})"
    r"@(?P<digest>sha256:[0-9a-f]{64})"
)


class TargetError(Exception):
    """The desired image cannot be named, or a requested one is refused; one sentence."""


class RegistryUnreadable(TargetError):
    """The registry could not be read: nothing can be decided until it answers."""


@dataclass(frozen=True)
class Target:
    """The image one host should run, as the deploy will pull and run it."""

    repository: str  # [registry/]path, as Docker names it
    tag: str
    digest: str
    held: bool = False  # an operator's pin chose it
    newest: str = ""  # the newest release tag under the policy (what a held host is held back from)

    def __post_init__(self) -> None:
        # what reaches the deploy's command line, Jenkins and Ansible: only a well-formed reference
        # (a repository, a tag and sha256: with 64 hex digits), whatever the registry or the cache said
        if not _REFERENCE.fullmatch(self.reference):
            raise TargetError(
                f"{printable(self.reference, 120)!r} is not an image reference of the form "
                "REPOSITORY:TAG@sha256:<64 hex digits>"
            )

    @property
    def reference(self) -> str:
        return f"{self.repository}:{self.tag}@{self.digest}"

    @property
    def shown(self) -> str:
        return Reference("", self.repository, self.tag, self.digest).short


def fleet_policy(cfg: Config, include: str = "", exclude: str = "", release_line: str = "") -> Policy:
    """The version policy: options given on a command line, else the [registry] keys. Raises ValueError."""
    r = cfg.registry
    return Policy(include or r.include, exclude or r.exclude, release_line or r.release_line)


def parse_reference(text: str) -> Target:
    """``repository:tag@sha256:<64 hex>`` with a release tag; anything else raises TargetError."""
    m = _REFERENCE.fullmatch(text or "")
    if not m:
        raise TargetError(
            f"{printable(text, 120)!r} is not an image reference of the form REPOSITORY:TAG@sha256:<64 hex digits>"
        )
    if parse_tag(m["tag"]) is None:
        raise TargetError(
            f"tag {m['tag']!r} of {printable(text, 120)!r} is not a release tag like 19.04.5 or 19.04.5-3"
        )
    return Target(m["repository"], m["tag"], m["digest"])


def pin_of(host: PollerHost) -> str:
    """The tag an operator holds HOST at ('' when none)."""
    value = host.vars.get(PIN_VAR)
    return "" if value is None else str(value).strip()


def repository_of(host: PollerHost) -> str:
    value = str(host.vars.get(REPOSITORY_VAR) or "").strip()
    if not value:
        raise TargetError(f"{host.name} has no {REPOSITORY_VAR} in the inventory")
    return value


def registry_settings(cfg: Config, image_registry: str, explicit_url: Optional[str] = None) -> RegistrySettings:
    """The registry to ask about images of IMAGE_REGISTRY: an explicit URL, [registry] url, or the
    registry the image reference names (https)."""
    s = cfg.registry
    url = explicit_url or s.url or (f"https://{image_registry}" if image_registry else "")
    if not url:
        raise ConfigError("no registry: set [registry] url (the image reference names none)")
    return settings_for(s, url)


def _promoted_tag(view: RegistryView, connect: Callable[[], RegistryClient], path: str, digest: str) -> str:
    """The release tag the promoted image was pushed as: the newest of the five newest release tags
    that still serves DIGEST ('' when none does: a rebuild moved it; the deploy pulls by digest)."""
    for tv in reversed(view.releases[-5:]):
        served = view.digests.get(tv.tag)
        if served is None and tv.tag not in view.digests:
            try:
                served = connect().digest(path, tv.tag)
            except NotFound:
                served = None
            view.digests[tv.tag] = served
        if served == digest:
            return tv.tag
    return ""


def _block_reason(info: dict[str, Any]) -> str:
    """': why' a canary blocked a candidate, from this central's bookkeeping ('' when it has none)."""
    return f": {info['reason']}" if info.get("reason") else ""


def _runs_blocked(host: str, target: Target, info: dict[str, Any]) -> str:
    """Why HOST must leave the image it runs, TARGET: canary promotion blocked it (INFO: this
    central's bookkeeping of the block, {} when it has none)."""
    who = f" (by {info['host']})" if info.get("host") else ""
    return (
        f"{host} runs {target.tag}@{short_digest(target.digest)}, blocked by canary promotion{_block_reason(info)}{who}"
    )


def _same_registry(base: str, image_registry: str) -> bool:
    return not image_registry or base.split("://", 1)[1].lower() == image_registry.lower()


class DesiredImages:
    """Answers "which image should HOST run" from the inventory, the policy and the registry:
    ``resolve`` is the rule; ``for_host``, ``freshness_of`` and ``chosen`` ask it."""

    def __init__(
        self,
        cfg: Config,
        policy: Policy,
        *,
        use_cache: bool = False,
        cache_ttl: Optional[int] = None,
        connect: Optional[Callable[[RegistrySettings, str], RegistryClient]] = None,
    ) -> None:
        self.cfg = cfg
        self.policy = policy
        s = cfg.registry
        ttl = s.cache_ttl if cache_ttl is None else cache_ttl
        self.cache = RegistryCache(Path(s.cache_dir), ttl) if use_cache and ttl > 0 else None
        self._connect = connect or (lambda settings, platform: RegistryClient(settings, platform))
        self._canaries: Optional[frozenset[str]] = None
        self.clock: Callable[[], float] = time.time

    def canaries(self) -> frozenset[str]:
        """The fleet inventory's canaries (``poller_canary``); none without an inventory."""
        if self._canaries is None:
            path = self.cfg.fleet.inventory
            if path is None:
                self._canaries = frozenset()
            else:
                from pollerfleet.core import inventory

                try:  # from the inventory cache's index: flat with the fleet's size
                    cache_dir = self.cfg.registry.cache_dir
                    self._canaries = inventory.canaries(
                        path, self.cfg.fleet.group, cache_dir=cache_dir, recheck_after=CANARY_RECHECK_SECONDS
                    )
                except inventory.InventoryError as exc:
                    raise TargetError(str(exc)) from None
        return self._canaries

    def _channel_tags(self, host: Optional[PollerHost]) -> tuple[str, ...]:
        return (self.cfg.rollout.channel_tag,) if host is not None and self.canaries() else ()

    def promote(
        self,
        host: Optional[PollerHost],
        target: Target,
        view: RegistryView,
        connect: Callable[[], RegistryClient],
        running_digests: tuple[str, ...] = (),
    ) -> tuple[Target, Optional[ImageInfo], str, str]:
        """The promotion part of the rule: (the target, the promoted image when HOST is kept on it,
        the note on the candidate, why the image HOST runs is blocked ('' if it is not))."""
        if host is None or not host.name or target.held or not self.canaries():
            return target, None, "", ""
        path = Reference.parse(target.repository).repository
        central = self._central_blocks()
        channel = self._channel(view, connect, path, central)
        choice = desired_under_promotion(
            target.tag, target.digest, channel, canary=host.canary, fleet_has_canaries=True
        )
        why = ""
        if choice.stage == Stage.BLOCKED and target.digest in running_digests:
            why = _runs_blocked(host.name, target, central.get(target.digest) or {})
        if choice.digest == target.digest:
            return target, None, "", why
        kept = Target(target.repository, choice.tag, choice.digest, False, target.newest)
        return kept, self._kept_image(kept, path, connect, running_digests), self._note(choice, target, central), why

    def _central_blocks(self) -> dict[str, dict[str, Any]]:
        """The blocks decided on this central: a block holds from the moment it is decided, before
        its registry tag exists. An unreadable state directory holds none; a corrupt file stops
        the rule (TargetError)."""
        try:
            return PromotionState(self.cfg.fleet.state_dir).blocked()
        except PromotionStateError as exc:
            raise TargetError(str(exc)) from None
        except OSError:
            return {}

    def _channel(
        self,
        view: RegistryView,
        connect: Callable[[], RegistryClient],
        path: str,
        central: dict[str, dict[str, Any]],
    ) -> Channel:
        """The promoted image (the registry's channel tag) and the blocked digests (the registry's
        block tags and this central's blocks)."""
        promoted = view.digests.get(self.cfg.rollout.channel_tag) or ""
        promoted_tag = _promoted_tag(view, connect, path, promoted) if promoted else ""
        return Channel(promoted, promoted_tag, frozenset(view.blocked) | frozenset(central))

    def _note(self, choice: Choice, target: Target, central: dict[str, dict[str, Any]]) -> str:
        """The note on the candidate for the check's line of a host kept off it."""
        if choice.stage == Stage.SOAKING:
            return soak_note(target.tag, len(self.canaries()), self._soak_since(target.digest), self.clock())
        if choice.stage == Stage.BLOCKED:
            return f"{target.tag} is blocked" + _block_reason(central.get(target.digest) or {})
        return choice.note

    def _soak_since(self, digest: str) -> Optional[float]:
        """Since when the first canary has soaked DIGEST (None when the bookkeeping cannot say)."""
        try:
            soak = (PromotionState(self.cfg.fleet.state_dir).load().get(digest) or {}).get("soak") or {}
            starts = [float(v.get("since", 0)) for v in soak.values() if isinstance(v, dict)]
        except (PromotionStateError, OSError, ValueError, TypeError):
            return None
        return min(starts) if starts else None

    def _kept_image(
        self, kept: Target, path: str, connect: Callable[[], RegistryClient], running_digests: tuple[str, ...]
    ) -> ImageInfo:
        """The promoted image a host is kept on. Off it, how long the promoted image has existed is
        the lag the thresholds judge: its creation time, when the registry tells it."""
        if running_digests and kept.digest not in running_digests:
            try:
                created = connect().image(path, self.cfg.rollout.channel_tag).created
            except RegistryError:
                return ImageInfo(kept.tag, kept.digest)
            return ImageInfo(kept.tag, kept.digest, created)
        return ImageInfo(kept.tag, kept.digest)

    def view(
        self,
        repository: str,
        tags: tuple[str, ...] = (),
        platform: str = "linux/amd64",
        registry_url: Optional[str] = None,
        strict: bool = True,
    ) -> tuple[str, RegistryView, Callable[[], RegistryClient]]:
        """The registry's base URL and what it holds for REPOSITORY ([registry/]path); the current
        digests of TAGS (a pin, the running tag) are in ``view.digests``; and the client, made on
        first use. STRICT: the repository must live in the configured registry (credentials go
        nowhere else)."""
        ref = Reference.parse(repository)
        settings = registry_settings(self.cfg, ref.registry, registry_url)
        base = registry_base(settings)
        if strict and not registry_url and not _same_registry(base, ref.registry):
            raise TargetError(
                f"repository {repository} is not in the configured registry {base}: refusing to look it up there"
            )
        client: Optional[RegistryClient] = None

        def connect() -> RegistryClient:
            nonlocal client
            if client is None:
                client = self._connect(settings, platform)
            return client

        return base, registry_view(connect, base, ref.repository, self.policy, self.cache, tags, platform), connect

    def resolve(self, host: PollerHost, platform: str = "linux/amd64", registry_url: Optional[str] = None) -> Target:
        """The image HOST should run: the rule every consumer asks. Raises RegistryError,
        ConfigError, TargetError with one-line reasons."""
        return self._resolve(host, platform, registry_url=registry_url).target

    def _resolve(
        self,
        host: Optional[PollerHost],
        platform: str = "linux/amd64",
        running: Optional[RunningImage] = None,
        repository: str = "",
        registry_url: Optional[str] = None,
        lock: Optional[Callable[[str], AbstractContextManager[object]]] = None,
        also: str = "",
    ) -> _Resolved:
        """The repository is REPOSITORY (a path in the registry of the RUNNING image), else the
        inventory's, else the RUNNING image's own; the tag is HOST's pin, else the newest release
        under the policy. ALSO (and the running tag) are looked up in the registry too."""
        full, strict = _repository(host, running, repository)
        pin = pin_of(host) if host is not None else ""
        tags: tuple[str, ...] = (running.reference.tag if running is not None else "", pin, also)
        if strict and host is not None and host.name and not pin:
            tags += self._channel_tags(host)
        with lock(full) if lock is not None else contextlib.nullcontext():
            base, view, connect = self.view(full, tags, platform, registry_url, strict=strict)
        path = Reference.parse(full).repository
        newest = view.newest
        if pin:
            digest = view.digests.get(pin)
            if not digest:
                who = host.name if host is not None and host.name else "the host"
                raise TargetError(f"{who} is held at the pinned tag {pin}, but {path}:{pin} is not in {base}")
            target = Target(full, pin, digest, True, newest.tag if newest else "")
        elif newest is None:
            raise TargetError(
                f"no release tag of {path} in {base} matches the policy (tags that are not versions are ignored)"
            )
        else:
            target = Target(full, newest.tag, newest.digest, False, newest.tag)
        if not strict:  # promotion is a fleet's: only for the inventory's repository
            return _Resolved(target, view, connect)
        target, kept, note, blocked = self.promote(
            host, target, view, connect, running.digests if running is not None else ()
        )
        return _Resolved(target, view, connect, kept, note, blocked)

    def target(
        self, repository: str, pin: str = "", platform: str = "linux/amd64", registry_url: Optional[str] = None
    ) -> Target:
        """The desired image in REPOSITORY: the pinned tag if PIN, else the newest release. The
        registry's failures are a RegistryUnreadable, a configuration's a TargetError."""
        host = PollerHost("", {REPOSITORY_VAR: repository, PIN_VAR: pin})
        with _as_target_errors(repository):
            return self.resolve(host, platform, registry_url)

    def for_host(self, host: PollerHost, platform: str = "linux/amd64") -> Target:
        with _as_target_errors(repository_of(host)):
            return self.resolve(host, platform)

    def freshness_of(
        self,
        client: DockerClient,
        container: str,
        host: Optional[PollerHost] = None,
        *,
        repository: str = "",
        registry_url: Optional[str] = None,
        lock: Optional[Callable[[str], AbstractContextManager[object]]] = None,
    ) -> Judged:
        """The image CONTAINER runs against the one HOST should run (``resolve``): the verdict of
        check_poller_image, pollerfleet status/sweep and reconcile, and the Target it was judged
        against. Raises DockerError, NotFound, RegistryError, ConfigError, TargetError with
        one-line reasons."""
        running = running_image(client, container)
        resolved = self._resolve(host, running.platform, running, repository, registry_url, lock)
        target = resolved.target
        held = None
        if target.held:
            # off the pin: how long the pinned image has existed is the lag the thresholds judge
            path = Reference.parse(target.repository).repository
            held = (
                ImageInfo(target.tag, target.digest)
                if target.digest in running.digests
                else resolved.connect().image(path, target.tag)
            )
        elif resolved.kept is not None or resolved.blocked:
            # canary promotion: the promoted image is the one that is fresh for this host
            held, promoted, blocked = resolved.kept, resolved.note, resolved.blocked
            verdict = freshness(
                running,
                resolved.view,
                held=held,
                expected=Reference.parse(target.repository),
                promoted=promoted,
                blocked=blocked,
            )
            return Judged(target, verdict)
        verdict = freshness(running, resolved.view, held=held, expected=Reference.parse(target.repository))
        return Judged(target, verdict)

    def chosen(self, host: PollerHost, wanted: str, platform: str = "linux/amd64") -> Target:
        """An operator's choice for HOST (a tag, or a full reference), checked against the
        inventory's repository, the registry's current digest and the host's pin."""
        repository = repository_of(host)
        asked: Optional[Target] = None
        if "@" in wanted or "/" in wanted:
            asked = parse_reference(wanted)
            if asked.repository != repository:
                raise TargetError(
                    f"{asked.repository} is not the repository of {host.name} ({repository}): refusing to deploy it"
                )
            tag = asked.tag
        elif parse_tag(wanted) is None:
            raise TargetError(f"{printable(wanted, 120)!r} is not a release tag like 19.04.5 or 19.04.5-3")
        else:
            tag = wanted
        pin = pin_of(host)
        if pin and tag != pin:
            raise TargetError(f"{host.name} is held at {pin} by the inventory ({PIN_VAR}); remove the pin first")
        with _as_target_errors(repository):
            desired = self._resolve(host, platform, also=tag)
        digest = desired.view.digests.get(tag)
        if not digest:
            raise TargetError(f"{repository}:{tag} is not in the registry")
        if asked is not None and asked.digest != digest:
            raise TargetError(
                f"{repository}:{tag} is {short_digest(digest)}... in the registry now, not "
                f"{short_digest(asked.digest)}...: refusing a digest the registry no longer serves under that tag"
            )
        if digest in desired.view.blocked:
            raise TargetError(
                f"{repository}:{tag}@{short_digest(digest)} is blocked by canary promotion: "
                "`pollerfleet unblock` it first"
            )
        return Target(repository, tag, digest, bool(pin), desired.target.newest)


@dataclass(frozen=True)
class Judged:
    """A host's verdict and the Target it was judged against: reconcile hands that Target on to the
    redeploy request, so what is deployed is what was judged stale."""

    target: Target
    freshness: Freshness


@dataclass(frozen=True)
class _Resolved:
    target: Target
    view: RegistryView
    connect: Callable[[], RegistryClient]
    kept: Optional[ImageInfo] = None  # canary promotion: the promoted image this host is kept on
    note: str = ""  # the note on the candidate for the check's line
    blocked: str = ""  # why the image this host runs is blocked


def _repository(host: Optional[PollerHost], running: Optional[RunningImage], path: str) -> tuple[str, bool]:
    """The desired repository ([registry/]path) and whether it must live in the configured registry
    (the inventory's: credentials go nowhere else)."""
    if path and running is not None:
        registry = running.reference.registry
        return (f"{registry}/{path}" if registry else path), False
    inventory = str(host.vars.get(REPOSITORY_VAR) or "").strip() if host is not None else ""
    if inventory:
        return inventory, True
    if running is None:
        raise TargetError(f"{host.name if host else 'the host'} has no {REPOSITORY_VAR} in the inventory")
    ref = running.reference
    return (f"{ref.registry}/{ref.repository}" if ref.registry else ref.repository), False


@contextlib.contextmanager
def _as_target_errors(repository: str) -> Iterator[None]:
    """For the deploy's callers: the registry's failures as RegistryUnreadable, a configuration's as
    TargetError."""
    try:
        yield
    except RegistryError as exc:
        raise RegistryUnreadable(f"cannot read the registry for {repository}: {exc}") from None
    except ConfigError as exc:
        raise TargetError(str(exc)) from None
