"""The admin token: where it is read from, and matching it without ever holding it in clear."""
from __future__ import annotations

import ctypes
import hashlib
import hmac
import os
import sys
from pathlib import Path

ENVIRONMENT = "TASK_SANDBOX_ADMIN_TOKEN"


class AdminToken:
    """Only the SHA-256 digest is kept: workers and logs can be handed it without the token."""

    def __init__(self, digest: bytes):
        self.digest = digest

    @classmethod
    def of(cls, token: str | None = None, sha256: str | None = None) -> "AdminToken | None":
        """From the token itself, or from its hex digest (what workers get); None for neither."""
        if token:
            return cls(hashlib.sha256(token.encode()).digest())
        return cls(bytes.fromhex(sha256)) if sha256 else None

    @property
    def sha256(self) -> str:
        return self.digest.hex()

    def matches(self, given: bytes) -> bool:
        # digests of equal length: compare_digest leaks nothing about the token's length either
        return hmac.compare_digest(hashlib.sha256(given).digest(), self.digest)

    def __repr__(self) -> str:
        return "AdminToken(<sha256 hidden>)"


class TokenError(Exception):
    """Why the token cannot be read, as one line for a person."""


def read(file: str | None, given: str | None) -> str | None:
    """serve's token: from --admin-token-file, --admin-token (with a warning) or the environment,
    which then keeps it no more (workers, and whatever else serve starts, inherit it)."""
    from_environment = take_from_environment()
    if file:
        return from_file(file)
    if given:
        print(f"task-sandbox: warning: --admin-token shows the token to anyone who can run `ps` here; "
              f"prefer --admin-token-file FILE or ${ENVIRONMENT}", file=sys.stderr)
        return given
    return from_environment


def from_file(path: str) -> str:
    """The file's first line, stripped; a missing, unreadable or empty file is a TokenError."""
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise TokenError(f"--admin-token-file: cannot read {path}: {reason}") from None
    token = lines[0].strip() if lines else ""
    if not token:
        raise TokenError(f"--admin-token-file: {path} is empty; write the token on its first line")
    return token


def take_from_environment(name: str = ENVIRONMENT) -> str | None:
    """The variable's value, then gone from this process: unset for the processes it starts, and
    overwritten where the kernel shows the environment it was started with (/proc/PID/environ)."""
    value = os.environb.get(name.encode()) if os.supports_bytes_environ else None
    if value is None:
        return os.environ.pop(name, None) or None
    try:
        libc = ctypes.CDLL(None)
        libc.getenv.restype = ctypes.c_void_p
        address = libc.getenv(name.encode())
        if address:  # the value's bytes in the block the process was started with
            ctypes.memset(address, ord("*"), len(value))
    except (OSError, AttributeError):  # no C library to reach: unsetting still keeps it from children
        pass
    os.environ.pop(name, None)
    return value.decode("utf-8", "surrogateescape") or None
