"""Image references as Docker splits them, and the one short form of a digest that every output
uses, so the check, the rollout view and the deploy's messages name the same image alike."""

from __future__ import annotations

TYPE_CHECKING = False  # as typing.TYPE_CHECKING, without importing typing at a plugin's start-up
if TYPE_CHECKING:
    from dataclasses import dataclass
else:  # every container check builds these: spared the dataclasses module's start-up cost (see core.record)
    from pollerfleet.core.record import dataclass

SHORT = len("sha256:") + 12  # Docker's short form: the algorithm and 12 hex digits


def short_digest(digest: str) -> str:
    """``sha256:0123456789ab`` for a digest or an image id."""
    return digest[:SHORT]


@dataclass(frozen=True)
class Reference:
    """An image reference split as Docker splits it: [registry/]repository[:tag][@digest]."""

    registry: str
    repository: str
    tag: str
    digest: str = ""

    @classmethod
    def parse(cls, ref: str, default_tag: str = "latest") -> Reference:
        """REF split; a reference with neither tag nor digest gets DEFAULT_TAG, as Docker pulls it."""
        name, _, digest = ref.partition("@")
        first, sep, rest = name.partition("/")
        registry = ""
        if sep and ("." in first or ":" in first or first == "localhost"):
            registry, name = first, rest
        repo, colon, tag = name.rpartition(":")
        if not colon or "/" in tag:
            repo, tag = name, default_tag if not digest else ""
        if not registry and "/" not in repo:
            repo = f"library/{repo}"
        return cls(registry, repo, tag, digest)

    @property
    def short(self) -> str:
        """``tag@sha256:0123456789ab`` (the tag alone without a digest): how every output names it."""
        return f"{self.tag}@{short_digest(self.digest)}" if self.digest else self.tag
