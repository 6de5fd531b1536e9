"""The proxy's client of the upstream API: requests and answers streamed both ways, nothing held whole."""
from __future__ import annotations

import typing as t
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx

from sandbox import errors

# Hop-by-hop headers (RFC 9110 7.6.1) belong to one connection, not to the exchange; Host names
# the proxy, and the session header is the proxy's own (it names the report's scope).
_NOT_FORWARDED = {b"connection", b"keep-alive", b"proxy-authenticate", b"proxy-authorization", b"te",
                  b"trailer", b"transfer-encoding", b"upgrade", b"host", b"x-sandbox-session"}
_NOT_RETURNED = {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailer",
                 "transfer-encoding", "upgrade"}

_DEFAULTS = ("accept", "accept-encoding", "user-agent")


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
    """One connection pool to the upstream. A request it cannot connect for is UpstreamUnreachable
    (502): nothing reached the upstream. One whose answer does not start within `timeout` seconds,
    or whose bytes stop for that long, is UpstreamTimeout (504)."""

    def __init__(self, base_url: str, timeout: float = 30.0, transport: httpx.AsyncBaseTransport | None = None):
        self.base_url = check_url(base_url)
        self.timeout = timeout
        self._client = httpx.AsyncClient(timeout=httpx.Timeout(timeout), transport=transport,
                                         follow_redirects=False, trust_env=False)

    async def send(self, method: str, path: str, query: bytes, headers: list[tuple[bytes, bytes]],
                   body: bytes | t.AsyncIterator[bytes] | None) -> Answer:
        url = self.base_url + path + (("?" + query.decode("latin-1")) if query else "")
        sent = [(k, v) for k, v in headers if k not in _NOT_FORWARDED]
        request = self._client.build_request(method, url, headers=sent, content=body)
        for name in _DEFAULTS:  # httpx adds its own where the client sent none: the request goes up as it came
            if not any(k == name.encode() for k, _ in sent):
                del request.headers[name]
        try:
            response = await self._client.send(request, stream=True)
        except httpx.TimeoutException:
            raise errors.UpstreamTimeout(
                f"The upstream {self.base_url} did not answer within {self.timeout:g} s (--upstream-timeout); "
                "the request may or may not have taken effect there.") from None
        except (httpx.TransportError, OSError) as exc:
            raise errors.UpstreamUnreachable(
                f"The proxy could not reach the upstream {self.base_url}: {type(exc).__name__}"
                f"{': ' + str(exc) if str(exc) else ''}.") from None
        returned = [(k.lower(), v) for k, v in response.headers.raw if k.decode("latin-1").lower() not in _NOT_RETURNED]
        return Answer(response.status_code, returned, self._chunks(response), response.aclose)

    @staticmethod
    async def _chunks(response: httpx.Response) -> t.AsyncIterator[bytes]:
        async for chunk in response.aiter_raw():
            yield chunk

    async def aclose(self) -> None:
        await self._client.aclose()
