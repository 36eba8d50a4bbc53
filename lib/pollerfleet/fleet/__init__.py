"""The whole fleet from one process: the sweep, its submission to the engine, its rendering,
the rollout view."""
