"""Bearer keys from the fixtures (B3) and per-operation scopes read from the spec (B3a)."""
from __future__ import annotations

from typing import TYPE_CHECKING

from sandbox import errors
from sandbox.spec import Contract

if TYPE_CHECKING:
    from sandbox.control.sessions import Sessions

NO_SCHEME = ("No API key was sent: send 'Authorization: Bearer <key>'; "
             "no other authorization scheme is accepted.")


class BearerAuth:
    """After routing: the key of `Authorization: Bearer <key>`, looked up in the state the
    request's session was opened at, then the operation's scopes from its `x-required-scopes`.
    Connexion's SecurityMiddleware did the first through a request object and a chain of
    handlers (about 11 us of an 80 us request) and checks scopes only for oauth2 (notes #6);
    the spec needs no x-bearerInfoFunc either, an implementation detail that does not belong
    in the public contract (B1). What a handler gets is what Connexion gave: `token_info`."""

    def __init__(self, app, contract: Contract, sessions: Sessions):
        self.app = app
        self.contract = contract
        self.sessions = sessions

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http":
            routed = scope.get("extensions", {}).get("connexion_routing", {})
            # The public API is the one at the app's root ("" below wherever the app is mounted);
            # the control plane's operations are never secured by a key.
            if routed.get("api_base_path") == "" and routed.get("operation_id") in self.contract.secured:
                operation = routed["operation_id"]
                key = self._key(scope)
                scope["extensions"].setdefault("connexion_context", {}).update(
                    user=key.key, token_info={"sub": key.key, "scope": sorted(key.scopes), "api_key": key})
                missing = sorted(self.contract.scopes[operation] - key.scopes)
                if missing:
                    raise errors.InsufficientScope(
                        f"This operation needs the scope {', '.join(missing)}, which the API key does not have.")
        await self.app(scope, receive, send)

    def _key(self, scope):
        header = next((v.decode("latin-1") for k, v in scope.get("headers", ()) if k == b"authorization"), "")
        parts = header.split(maxsplit=1)  # as Connexion did: any whitespace, scheme in any case
        if not parts:
            raise errors.MissingApiKey()
        if len(parts) == 1 or parts[0].lower() != "bearer":
            raise errors.MissingApiKey(NO_SCHEME)
        key = self.sessions.for_scope(scope).key(parts[1])
        if key is None:
            raise errors.Unauthorized()
        return key
