"""One small, typed module per outside system (Docker Engine, registry, Jenkins, the
upstream package repository) with a timeout on every call; they import only core."""
