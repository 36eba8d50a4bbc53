"""Is this poller running the newest image we have built? The freshness of a container's image
against the private registry, as one typed verdict that the check, the reconciler and the fleet
sweep all use (no nagiosplugin here).

What runs comes from the container and its image (``Config.Image``, ``RepoTags``,
``RepoDigests``, the ``org.opencontainers.image.version`` label, ``Created``); what exists comes
from the registry through the cache. A host is behind by the number of newer releases; an image
rebuilt under the same tag (same tag, other digest) counts as one behind too.

Behind is a matter of thresholds (the rollout grace); a wrong image is not: a container that
runs another repository, a tag that is no release, or a digest the registry does not serve for
its tag (built or loaded on the host) is wrong, whatever its version says, until it is replaced.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

from pollerfleet.clients.docker import DockerClient
from pollerfleet.clients.regcache import RegistryCache
from pollerfleet.clients.registry import DIGEST, ImageInfo, NotFound, RegistryClient
from pollerfleet.core import verbosity
from pollerfleet.core.reference import Reference, short_digest
from pollerfleet.core.timefmt import epoch, human_duration
from pollerfleet.core.versions import Policy, TagVersion, parse_tag, releases_newer
from pollerfleet.images.promotion import block_tag, blocked_digests

VERSION_LABEL = "org.opencontainers.image.version"
CREATED_LABEL = "org.opencontainers.image.created"


@dataclass(frozen=True)
class RunningImage:
    """The image a container runs, as its Docker host describes it."""

    container: str
    reference: Reference
    version: Optional[TagVersion]
    digests: tuple[str, ...]  # the registry digests this image was pulled or pushed as
    created: Optional[float]
    image_id: str
    platform: str = "linux/amd64"  # the daemon's platform, as the image says it runs there

    @property
    def shown(self) -> str:
        return self.version.tag if self.version else (self.reference.tag or short_digest(self.image_id))


def running_image(client: DockerClient, container: str) -> RunningImage:
    """Inspect CONTAINER and its image (two requests). Raises DockerError / NotFound."""
    cont = client.inspect_container(container)
    ref = Reference.parse(str((cont.get("Config") or {}).get("Image") or ""))
    image_id = str(cont.get("Image") or "")
    img = client.inspect_image(image_id) if image_id else {}
    labels = ((img.get("Config") or {}).get("Labels")) or {}
    if not isinstance(labels, dict):
        labels = {}
    version = parse_tag(ref.tag) if ref.tag else None
    if version is None and labels.get(VERSION_LABEL):
        version = parse_tag(str(labels[VERSION_LABEL]))
    digests = tuple(
        d.split("@", 1)[1]
        for d in img.get("RepoDigests") or []
        if isinstance(d, str) and "@" in d and Reference.parse(d).repository == ref.repository
    )
    created = epoch(img.get("Created")) or epoch(labels.get(CREATED_LABEL))
    return RunningImage(container, ref, version, digests, created, image_id, _platform(img))


def _platform(img: dict[str, Any]) -> str:
    """os/arch[/variant] as the image says it runs."""
    os_, arch = str(img.get("Os") or "linux"), str(img.get("Architecture") or "amd64")
    return f"{os_}/{arch}/{img['Variant']}" if img.get("Variant") else f"{os_}/{arch}"


@dataclass
class RegistryView:
    """What the registry holds for one repository under the policy (possibly from the cache)."""

    releases: list[TagVersion]
    newest: Optional[ImageInfo]
    digests: dict[str, Optional[str]] = field(default_factory=dict)
    fetched: float = 0.0
    from_cache: bool = False
    blocked: list[str] = field(default_factory=list)  # digests the registry's blocked-<hex> tags mark (promotion)

    def to_json(self) -> dict[str, Any]:
        return {
            "tags": [tv.tag for tv in self.releases],
            "newest": None if self.newest is None else self.newest.__dict__,
            "digests": self.digests,
            "fetched": self.fetched,
            "blocked": self.blocked,
        }

    @classmethod
    def from_json(cls, doc: dict[str, Any], policy: Policy) -> RegistryView:
        """The cached view; ValueError when a digest in it is not one (the cache is then asked
        again of the registry, whose answers are checked)."""
        newest = doc.get("newest")
        info = ImageInfo(**newest) if isinstance(newest, dict) else None
        digests = {str(k): v for k, v in (doc.get("digests") or {}).items()}
        for digest in [info.digest if info else None, *digests.values()]:
            if digest is not None and not (isinstance(digest, str) and DIGEST.fullmatch(digest)):
                raise ValueError("a cached digest is malformed")
        blocked = [str(d) for d in doc.get("blocked") or []]
        if not all(DIGEST.fullmatch(d) for d in blocked):
            raise ValueError("a cached digest is malformed")
        return cls(
            policy.releases([str(t) for t in doc.get("tags", [])]),
            info,
            digests,
            float(doc.get("fetched") or 0),
            True,
            blocked,
        )


def registry_view(
    connect: Callable[[], RegistryClient],
    base: str,
    repository: str,
    policy: Policy,
    cache: Optional[RegistryCache],
    tags: tuple[str, ...] = (),
    platform: str = "linux/amd64",
) -> RegistryView:
    """The releases and the newest image of REPOSITORY at BASE; the digests of TAGS (the running
    tag, a pinned tag) are added once per TTL. CONNECT makes the client (and imports requests) only
    when the cache cannot answer."""
    key = f"{base}|{repository}|{policy.include}|{policy.exclude}|{policy.release_line}|{platform}"
    client: Optional[RegistryClient] = None

    def registry() -> RegistryClient:
        nonlocal client
        if client is None:
            client = connect()
        return client

    view: Optional[RegistryView] = None
    if cache is not None:
        cached = cache.lookup(key)
        if cached is not None:
            try:
                view = RegistryView.from_json(cached, policy)
            except (TypeError, ValueError, KeyError):
                view = None
    changed = False
    from_cache = view is not None
    if view is None:
        raw = registry().tags(repository)
        releases = policy.releases(raw)
        newest = registry().image(repository, releases[-1].tag) if releases else None
        # a blocked-<hex> tag blocks <hex> only while it points at that very manifest: unblocking
        # re-points it (the registry API cannot delete a tag without its manifest)
        blocked = []
        for digest in sorted(blocked_digests(raw)):
            try:
                if registry().digest(repository, block_tag(digest)) == digest:
                    blocked.append(digest)
            except NotFound:
                pass
        view = RegistryView(releases, newest, {}, time.time(), blocked=blocked)
        if newest is not None:
            view.digests[newest.tag] = newest.digest
        changed = True
    for tag in tags:
        if tag and tag not in view.digests:
            try:
                view.digests[tag] = registry().digest(repository, tag)
            except NotFound:
                view.digests[tag] = None  # the tag is gone from the registry
            changed = True
    if cache is not None and changed:
        cache.store(key, view.to_json())
    verbosity.log.info(
        "registry: %s, repository %s: %d release tags under the policy, newest %s (%s)",
        base,
        repository,
        len(view.releases),
        view.newest.tag if view.newest else "none",
        f"from the cache, {time.time() - view.fetched:.0f} s old" if from_cache else "asked now",
    )
    return view


@dataclass(frozen=True)
class Freshness:
    """The verdict for one container: how far behind, since when, and the sentence that says so."""

    running: RunningImage
    newest: Optional[ImageInfo]
    newer_releases: tuple[str, ...]
    rebuilt: bool  # same tag, another digest in the registry
    tag_gone: bool  # the running tag no longer exists in the registry
    lag: float  # seconds the newest image has existed while this host runs an older one (0 when fresh)
    age: Optional[float]  # seconds since the running image was built
    held: Optional[ImageInfo] = None  # the operator's pin, at the digest the registry serves for it
    wrong: str = ""  # why the container runs no image of the desired repository the registry knows ('' if it does)
    promoted: str = ""  # canary promotion: the note on the candidate ("19.04.5-2 on 2 canaries for 12 min")

    @property
    def desired(self) -> Optional[ImageInfo]:
        """The image this host should run: the pinned one, else the newest release."""
        return self.held or self.newest

    @property
    def off_pin(self) -> bool:
        return self.held is not None and self.held.digest not in self.running.digests

    @property
    def behind(self) -> int:
        if self.held is not None:
            return int(self.off_pin)
        return len(self.newer_releases) or int(self.rebuilt)

    @property
    def stale(self) -> bool:
        return self.behind > 0 or bool(self.wrong)

    def summary(self) -> str:
        r = self.running
        name = r.container
        if self.wrong:
            desired = self.desired
            return self.wrong + (
                f"; the desired image is {desired.tag}@{short_digest(desired.digest)}" if desired else ""
            )
        if self.held is not None and self.promoted:
            if self.off_pin:
                return f"{name} runs {r.shown}, but the promoted image is {self.held.tag}: redeploy; {self.promoted}"
            return f"{name} runs {r.shown}, the promoted image; {self.promoted}"
        if self.held is not None:
            newest = f" (newest {self.newest.tag})" if self.newest and self.newest.tag != self.held.tag else ""
            if self.off_pin:
                return f"{name} runs {r.shown}, but the host is held at {self.held.tag}{newest}: redeploy to the pin"
            return f"{name} runs {r.shown}, held at {self.held.tag}{newest}"
        if self.newest is None:
            return f"{name} runs {r.shown}; the registry has no release tag for {r.reference.repository}"
        if self.newer_releases:
            n = len(self.newer_releases)
            return (
                f"{name} runs {r.shown}, newest {self.newest.tag} ({n} release{'s' if n > 1 else ''} behind, "
                f"newer image available for {_days(self.lag)})"
            )
        if self.rebuilt:
            return (
                f"{name} runs {r.shown}, but {r.shown} was rebuilt in the registry (other digest), "
                f"newer image available for {_days(self.lag)}"
            )
        built = f", built {_days(self.age)} ago" if self.age is not None else ""
        note = f"; tag {r.shown} is no longer in the registry" if self.tag_gone else ""
        if r.version is None:
            return f"{name} runs {r.shown} (not a release tag), newest release {self.newest.tag}{built}{note}"
        return f"{name} runs {r.shown}, the newest image{built}{note}"


def _days(seconds: Optional[float]) -> str:
    if seconds is None:
        return "an unknown time"
    if seconds >= 2 * 86400:
        return f"{int(seconds // 86400)} days"
    return human_duration(seconds)


def _full(ref: Reference) -> str:
    return f"{ref.registry}/{ref.repository}" if ref.registry else ref.repository


def wrong_image(
    running: RunningImage, view: RegistryView, expected: Optional[Reference], desired: Optional[ImageInfo]
) -> str:
    """Why RUNNING is no image of the EXPECTED repository that the registry knows ('' when it is):
    the rule check_poller_image, reconcile and ``pollerfleet verify`` share. DESIRED's digest
    is always known; otherwise the tag must be a release and the registry must serve the tag."""
    r, name = running.reference, running.container
    if expected is not None and (r.registry.lower(), r.repository) != (expected.registry.lower(), expected.repository):
        return f"{name} runs {_full(r)}:{r.tag or '?'}, not an image of the desired repository {_full(expected)}"
    if desired is not None and desired.digest in running.digests:
        return ""
    if not running.digests:
        return (
            f"{name} runs {r.tag or '?'} (image {short_digest(running.image_id) or '?'}) with no registry digest: "
            f"built or loaded on the host, not an image of {_full(r)} the registry knows"
        )
    if parse_tag(r.tag) is None:
        return f"{name} runs {_full(r)}:{r.tag or '(no tag)'}, which is not a release tag"
    if r.tag in view.digests and view.digests[r.tag] is None:  # asked, and the registry has no such tag
        return (
            f"{name} runs {r.tag}@{short_digest(running.digests[0])}, a digest the registry does not serve "
            f"({_full(r)}:{r.tag} is not in the registry)"
        )
    return ""


def runs(running: RunningImage, repository: str, digest: str) -> bool:
    """Whether RUNNING is REPOSITORY's image at DIGEST: what ``pollerfleet verify`` asks, by the
    rule the check judges with (the repository first, then the digest)."""
    return not wrong_image(running, RegistryView([], None), Reference.parse(repository), ImageInfo("", digest)) and (
        digest in running.digests
    )


def freshness(
    running: RunningImage,
    view: RegistryView,
    now: Optional[float] = None,
    held: Optional[ImageInfo] = None,
    expected: Optional[Reference] = None,
    promoted: str = "",
    blocked: str = "",
) -> Freshness:
    """Judge RUNNING against VIEW: the one place the suite decides what "stale" and "wrong" mean.
    HELD (an operator's pin, at its current digest) is then the one image that is fresh; EXPECTED
    is the desired repository (None: whichever the container runs)."""
    now = now if now is not None else time.time()
    age = _since(now, running.created)
    wrong = wrong_image(running, view, expected, held or view.newest) or blocked
    if held is not None:
        lag = (_since(now, held.created) or 0.0) if held.digest not in running.digests else 0.0
        return Freshness(running, view.newest, (), False, False, lag, age, held, wrong, promoted)
    if not wrong and view.newest is not None and view.newest.digest in running.digests:
        # the very image the newest tag points at, whatever tag this host pulled it by
        return Freshness(running, view.newest, (), False, False, 0.0, age)
    newer = _newer(running, view)
    rebuilt, tag_gone = _retagged(running, view)
    stale = bool(newer) or rebuilt or bool(wrong)
    lag = (_since(now, view.newest.created) or 0.0) if stale and view.newest is not None else 0.0
    return Freshness(running, view.newest, newer, rebuilt, tag_gone, lag, age, None, wrong)


def _newer(running: RunningImage, view: RegistryView) -> tuple[str, ...]:
    """The releases newer than RUNNING's (the newest alone for the same release, newer build)."""
    if running.version is None:
        return ()
    newer = tuple(releases_newer(view.releases, running.version))
    if not newer and view.releases and running.version < view.releases[-1]:
        newer = (view.releases[-1].tag,)  # same release, newer build number
    return newer


def _since(now: float, then: Optional[float]) -> Optional[float]:
    return max(0.0, now - then) if then is not None else None


def _retagged(running: RunningImage, view: RegistryView) -> tuple[bool, bool]:
    """(RUNNING's tag now points at another digest: rebuilt, RUNNING's tag is gone from the registry)."""
    tag = running.reference.tag
    registry_digest = view.digests.get(tag) if tag else None
    rebuilt = bool(running.digests and registry_digest and registry_digest not in running.digests)
    return rebuilt, bool(tag) and tag in view.digests and registry_digest is None
