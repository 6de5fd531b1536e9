"""The proxy's client of the upstream API: requests and answers streamed both ways, nothing held whole."""
from __future__ import annotations

import asyncio
import typing as t
from dataclasses import dataclass
from urllib.parse import urlsplit

import aiohttp
from yarl import URL

from sandbox import errors

# Hop-by-hop headers (RFC 9110 7.6.1) belong to one connection, not to the exchange; Host names
# the proxy, and the session header is the proxy's own (it names the report's scope).
_NOT_FORWARDED = {b"connection", b"keep-alive", b"proxy-authenticate", b"proxy-authorization", b"te",
                  b"trailer", b"transfer-encoding", b"upgrade", b"host", b"x-sandbox-session"}
_NOT_RETURNED = {b"connection", b"keep-alive", b"proxy-authenticate", b"proxy-authorization", b"te", b"trailer",
                 b"transfer-encoding", b"upgrade"}
CONNECTIONS = 256  # to the upstream at once: each is a request of a client in flight
# aiohttp adds these where a request has none: the request goes up as it came.
_DEFAULTS = ("Accept", "Accept-Encoding", "User-Agent", "Content-Type")


def check_url(url: str) -> str:
    """The upstream's base URL without a trailing slash; ValueError naming what is wrong."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{url!r} is not an http:// or https:// URL with a host")
    if parts.query or parts.fragment:
        raise ValueError(f"{url!r}: the upstream's base URL takes no query or fragment")
    return url.rstrip("/")


@dataclass
class Answer:
    """The upstream's answer as it starts: status and headers; `chunks` streams its body as sent."""

    status: int
    headers: list[tuple[bytes, bytes]]
    chunks: t.AsyncIterator[bytes]
    close: t.Callable[[], t.Awaitable[None]]


class Upstream:
    """One connection pool to the upstream, made in the event loop that first sends. A request it
    cannot connect for is UpstreamUnreachable (502): nothing reached the upstream. One whose answer
    does not start within `timeout` seconds, or whose bytes stop for that long, is UpstreamTimeout (504).

    aiohttp, not httpx (which the rest of the package uses): forwarding a GET cost the proxy
    150-240 µs of CPU with it and 800-1,850 µs with httpx (bench/README.md, table 7)."""

    def __init__(self, base_url: str, timeout: float = 30.0):
        self.base_url = check_url(base_url)
        self.timeout = timeout
        self._session: aiohttp.ClientSession | None = None

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            # `connect` bounds the wait for one of the pool's connections too: past CONNECTIONS busy
            # ones, a request is refused within the timeout rather than queued for ever.
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=CONNECTIONS, limit_per_host=CONNECTIONS),
                timeout=aiohttp.ClientTimeout(total=None, connect=self.timeout, sock_connect=self.timeout,
                                              sock_read=self.timeout),
                auto_decompress=False, trust_env=False, cookie_jar=aiohttp.DummyCookieJar())
        return self._session

    async def send(self, method: str, path: str, query: bytes, headers: list[tuple[bytes, bytes]],
                   body: bytes | t.AsyncIterator[bytes] | None) -> Answer:
        url = URL(self.base_url + path + ("?" + query.decode("latin-1") if query else ""), encoded=True)
        sent = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in headers if k not in _NOT_FORWARDED]
        names = {k.lower() for k, _ in sent}
        skipped = [name for name in _DEFAULTS if name.lower() not in names]
        try:
            response = await self._client().request(
                method, url, headers=sent, data=body, allow_redirects=False, skip_auto_headers=skipped,
                compress=None, chunked=None)
        except aiohttp.ConnectionTimeoutError:
            raise errors.UpstreamUnreachable(
                f"The proxy could not connect to the upstream {self.base_url} within {self.timeout:g} s "
                f"(--upstream-timeout), or its {CONNECTIONS} connections there were all busy; nothing was sent.") from None
        except (asyncio.TimeoutError, aiohttp.ServerTimeoutError):
            raise errors.UpstreamTimeout(
                f"The upstream {self.base_url} did not answer within {self.timeout:g} s (--upstream-timeout); "
                "the request may or may not have taken effect there.") from None
        except (aiohttp.ClientError, OSError) as exc:
            raise errors.UpstreamUnreachable(
                f"The proxy could not reach the upstream {self.base_url}: {type(exc).__name__}"
                f"{': ' + str(exc) if str(exc) else ''}.") from None
        returned = [(k.lower(), v) for k, v in response.raw_headers if k.lower() not in _NOT_RETURNED]
        return Answer(response.status, returned, self._chunks(response), self._closer(response))

    @staticmethod
    async def _chunks(response: aiohttp.ClientResponse) -> t.AsyncIterator[bytes]:
        async for chunk in response.content.iter_any():
            yield chunk

    @staticmethod
    def _closer(response: aiohttp.ClientResponse):
        async def close() -> None:
            response.release()
        return close

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
