"""The image a poller runs and the image it should run: the freshness verdict, the
desired-image rule and the release status, built on the clients."""
