"""Upstreams of our own making for the proxy's tests: real servers whose answers a test decides."""
from __future__ import annotations

import json

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route


class Upstream:
    """An upstream of our own making: every path answers as `answer` says, and every request it got is kept."""

    def __init__(self, answer):
        self.seen: list[dict] = []
        self.answer = answer

        async def endpoint(request: Request):
            body = b""
            async for chunk in request.stream():
                body += chunk[:100 - len(body)]  # the first bytes are enough to compare; a 40 MB upload is not kept
            self.seen.append({"method": request.method, "path": request.url.path, "headers": dict(request.headers),
                              "size": int(request.headers.get("content-length") or 0), "body": body})
            return await self.answer(request)

        self.app = Starlette(routes=[Route("/{path:path}", endpoint, methods=["GET", "POST", "PUT", "DELETE"])])


def json_answer(status: int, body, headers: dict | None = None, media: str | None = "application/json"):
    async def answer(_request):
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        response = Response(raw, status_code=status, headers=headers or {})
        if media is None:
            del response.headers["content-type"]
        else:
            response.headers["content-type"] = media
        return response
    return answer
