"""The hot read (GET one task) answered without Connexion's bridge to Flask's threads, byte for
byte as the full stack would; anything unusual falls through to the full stack."""
from __future__ import annotations

import json
import re
from collections import OrderedDict

from openapi_schema_validator import OAS30Validator

from sandbox.control.sessions import Sessions
from sandbox.spec import Contract

TASK = re.compile(r"^/v2/([^/]+)/project/([^/]+)/task/([^/]+)$")
# Headers whose presence needs the full stack: CORS, injected faults.
FULL_STACK = (b"origin", b"prefer")
VALIDATED_BODIES = 4096


class FastTaskReads:
    """Same checks, same order, same bytes as the full stack for a successful GET of a task;
    every refusal, and every request with anything unusual about it, takes the full stack,
    so errors keep exactly one source. Response validation is kept, once per distinct body
    rather than once per request (B1)."""

    def __init__(self, app, sessions: Sessions, contract: Contract, validate: bool = True):
        self.app = app
        self.sessions = sessions
        self.required = contract.scopes["getTask"]
        schema = {"$ref": "#/components/schemas/TaskEnvelope", "components": contract.document["components"]}
        self.validator = OAS30Validator(schema) if validate else None
        self._validated: OrderedDict[bytes, None] = OrderedDict()

    async def __call__(self, scope, receive, send):
        body = self._answer(scope) if scope["type"] == "http" and scope["method"] == "GET" else None
        if body is None:
            return await self.app(scope, receive, send)
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"application/json"),
                                (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})

    def _answer(self, scope) -> bytes | None:
        path = scope["path"]
        found = TASK.match(path)
        if not found or scope.get("query_string") or scope.get("raw_path", path.encode()) != path.encode():
            return None
        headers = dict(scope["headers"])
        authorization = headers.get(b"authorization", b"")
        if not authorization.startswith(b"Bearer ") or any(h in headers for h in FULL_STACK):
            return None
        try:
            session = self.sessions.for_scope(scope)
            if session.faults.rules():
                return None
            key = session.world.key(authorization[7:].decode())
            if key is None or not self.required <= key.scopes:
                return None
            task = session.world.get_task(key, *found.groups())
        except Exception:  # noqa: BLE001 - a read changes nothing: the full stack repeats it and answers
            return None
        body = (json.dumps({"payload": task}, separators=(",", ":")) + "\n").encode()
        return body if self._conforms(body, task) else None

    def _conforms(self, body: bytes, task: dict) -> bool:
        if self.validator is None or body in self._validated:
            return True
        if not self.validator.is_valid({"payload": task}):
            return False  # the full stack answers its 500 and logs why
        self._validated[body] = None
        if len(self._validated) > VALIDATED_BODIES:
            self._validated.popitem(last=False)
        return True
