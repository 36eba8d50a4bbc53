"""The role's stop timeout must leave the engine the time supervisord gives it to write
retention.dat; otherwise Docker kills it first (Docker's default is 10 s)."""

from __future__ import annotations

import configparser

import yaml

from tests.helpers import ROOT


def test_the_role_waits_longer_than_supervisord_gives_the_engine() -> None:
    defaults = yaml.safe_load((ROOT / "ansible/roles/centreon_poller/defaults/main.yml").read_text())
    conf = configparser.ConfigParser(interpolation=None)
    conf.read(ROOT / "images/centreon-engine/supervisord.conf")
    stopwaitsecs = conf.getint("program:centengine", "stopwaitsecs")
    assert stopwaitsecs >= 30
    assert int(defaults["centreon_poller_stop_timeout"]) > stopwaitsecs
