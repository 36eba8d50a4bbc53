"""rpm version comparison and the primary file's compression, on values (the repository paths run
against a real createrepo_c tree in tests/integration/test_release_watch.py)."""

from __future__ import annotations

import pytest

from pollerfleet.clients.upstream import Package, UpstreamError, _decompressor, compare, rpmvercmp


@pytest.mark.parametrize(
    ("a", "b", "result"),
    [
        ("19.04.10", "19.04.5", 1),
        ("19.04.5", "19.04.5", 0),
        ("19.04.05", "19.04.5", 0),  # leading zeros do not count
        ("19.10.0", "19.04.99", 1),
        ("1.0a", "1.0", 1),
        ("1.0", "1.0a", -1),
        ("1.0~rc1", "1.0", -1),  # a tilde sorts before the release
        ("2", "10", -1),
        ("1.el7", "1.el8", -1),
        ("10", "a", 1),  # numbers are newer than letters
    ],
)
def test_rpmvercmp(a: str, b: str, result: int) -> None:
    assert rpmvercmp(a, b) == result
    assert rpmvercmp(b, a) == -result


def pkg(epoch: int, version: str, release: str) -> Package:
    return Package("centreon-engine", epoch, version, release, None, "repo")


def test_epoch_then_version_then_release() -> None:
    assert compare(pkg(1, "1.0", "1"), pkg(0, "99", "1")) == 1
    assert compare(pkg(0, "19.04.5", "2.el7"), pkg(0, "19.04.5", "1.el7")) == 1
    assert pkg(0, "19.04.10", "1").newer_than(pkg(0, "19.04.5", "9"))
    assert pkg(0, "19.04.10", "1").evr == "19.04.10-1" and pkg(2, "1", "1").evr == "2:1-1"


@pytest.mark.parametrize("href", ["repodata/x-primary.xml.zst", "repodata/x-primary.xml.zck"])
def test_unsupported_compression_is_named(href: str) -> None:
    with pytest.raises(UpstreamError, match=r"compression not supported \(gzip, xz, bzip2 or plain XML are"):
        _decompressor(href)
