"""The suite's own ground: configuration, the fleet inventory, versions, names, time and
verbosity. No I/O beyond reading its own files; every other layer may import it."""
