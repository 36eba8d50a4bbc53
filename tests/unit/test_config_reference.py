"""docs/configuration.md is generated from core/config.py: it must be current, and every key must be described."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from pollerfleet.core import config, record

ROOT = Path(__file__).resolve().parents[2]


def _generator():
    spec = importlib.util.spec_from_file_location("gen_config_reference", ROOT / "docs" / "gen_config_reference.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_configuration_reference_is_current():
    text = _generator().render()
    on_disk = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
    assert on_disk == text, "docs/configuration.md is stale: run `make docs` and commit it"


def test_every_key_of_every_section_is_in_the_reference_with_its_default():
    text = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
    for section in record.fields(config.Config):
        if section.name == "path":
            continue
        assert f"## [{section.name}]" in text
        for f in record.fields(section.default_factory):  # type: ignore[arg-type]
            assert f"| `{f.name}` |" in text, f"[{section.name}] {f.name}"
    assert "| `port` | whole number | `2376` |" in text
    assert '| `repository` | string | `"centreon/centreon-engine"` |' in text
    assert "| `tls_dir` | path | (none) |" in text


def test_a_key_without_a_docstring_is_found_missing():
    source = '''
class S:
    """A section."""

    described: int = 1
    """What it means,
    on two lines."""
    undescribed: str = ""
    # a comment is not a meaning
'''
    docs = _generator().attribute_docs(source)
    assert docs == {("S", "described"): "What it means, on two lines."}


def test_the_check_mode_fails_on_a_stale_file(tmp_path, monkeypatch):
    gen = _generator()
    stale = tmp_path / "configuration.md"
    stale.write_text("# Configuration reference\n", encoding="utf-8")
    monkeypatch.setattr(gen, "TARGET", stale)
    assert gen.main(["gen", "--check"]) == 1
    assert gen.main(["gen"]) == 0
    assert gen.main(["gen", "--check"]) == 0


@pytest.mark.parametrize("name", ["DockerSettings", "RolloutSettings"])
def test_section_docstrings_reach_the_reference(name):
    text = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
    assert " ".join(getattr(config, name).__doc__.split()) in text
