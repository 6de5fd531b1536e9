"""Bearer keys from the fixtures (B3) and per-operation scopes read from the spec (B3a)."""
from __future__ import annotations

from typing import Callable

from connexion.security import BearerSecurityHandler

from sandbox import errors
from sandbox.spec import Contract


def bearer_handler(session_for: Callable[[object], object]) -> type[BearerSecurityHandler]:
    """A security handler bound to this app's sessions, so the spec needs no x-bearerInfoFunc
    (an implementation detail that does not belong in the public contract, B1). The key is
    looked up in the state the request's session was opened at."""

    def token_info(token: str, request) -> dict | None:
        key = session_for(request).key(token)
        if key is None:
            return None
        return {"sub": key.key, "scope": sorted(key.scopes), "api_key": key}

    class Handler(BearerSecurityHandler):
        def _resolve_func(self, security_scheme):
            return token_info

        @staticmethod
        def _accepts_kwarg(func, keyword: str) -> bool:
            return keyword == "request"  # token_info's signature; Connexion inspects it per request

    return Handler


class ScopeMiddleware:
    """Connexion checks scopes only for oauth2 schemes (notes #6); the spec records each
    operation's scopes in `x-required-scopes` and this enforces them after authentication."""

    def __init__(self, app, contract: Contract):
        self.app = app
        self.contract = contract

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http":
            extensions = scope.get("extensions", {})
            operation_id = extensions.get("connexion_routing", {}).get("operation_id")
            token = extensions.get("connexion_context", {}).get("token_info") or {}
            required = self.contract.scopes.get(operation_id, frozenset())
            missing = sorted(required - set(token.get("scope", ())))
            if token and missing:
                raise errors.InsufficientScope(
                    f"This operation needs the scope {', '.join(missing)}, which the API key does not have.")
        await self.app(scope, receive, send)
