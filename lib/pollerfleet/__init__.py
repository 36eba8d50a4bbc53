"""centreon-poller-fleet: checks, event handlers and fleet tools for Docker-hosted Centreon pollers."""

__version__ = "0.1.0"
