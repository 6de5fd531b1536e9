"""Which hosts subscriptions may point at: loopback always, others only when the operator allows them."""
from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

from sandbox.domain.events import url_problem

LOOPBACK_NAMES = {"localhost", "localhost.localdomain"}


def is_loopback(host: str | None) -> bool:
    if not host:
        return False
    if host.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class HostPolicy:
    """A sandbox on a shared deployment must not become a way to make requests into its
    network: subscribers get loopback unless `--webhook-allow-host` names more ("*": any)."""

    def __init__(self, allowed=()):
        self.allowed = {h.lower() for h in allowed}

    def allows(self, host: str | None) -> bool:
        return is_loopback(host) or "*" in self.allowed or (host or "").lower() in self.allowed

    def refusal(self, host: str | None) -> str:
        return (f"{host or 'no host'} is not allowed: subscriptions may point at loopback only, "
                "unless the sandbox is started with --webhook-allow-host")

    def problem(self, url: str) -> str | None:
        """Why `url` cannot be a subscriber's address, or None."""
        found = url_problem(url)
        if found is None and not self.allows(urlsplit(url).hostname):
            return self.refusal(urlsplit(url).hostname)
        return found
