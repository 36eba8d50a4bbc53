"""What acts on the world: the redeploy decision and its actor, rebuilds, reconcile and the
event handlers."""
