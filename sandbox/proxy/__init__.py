"""The validating proxy in front of the real API, and its recorder."""
