"""The command-line tools and the pytest plugin, which drive a sandbox from outside."""
