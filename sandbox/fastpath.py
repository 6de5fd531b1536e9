"""The hot read (GET one task) answered without Connexion's bridge to Flask's threads, byte for
byte as the full stack would; anything unusual falls through to the full stack."""
from __future__ import annotations

import hashlib
import json
import re
from collections import OrderedDict

import jsonschema_rs

from sandbox.fixtures import plain_json_schema

from sandbox.control.sessions import Sessions
from sandbox.spec import Contract

TASK = re.compile(r"^/v2/([^/]+)/project/([^/]+)/task/([^/]+)$")
# Headers whose presence needs the full stack: CORS, injected faults.
FULL_STACK = (b"origin", b"prefer")
VALIDATED_BODIES = 65536  # digests of bodies known to conform: 16 bytes each
MAX_ID = 128  # the contract's maxLength of every path parameter


class FastTaskReads:
    """Same checks, same order, same bytes as the full stack for a successful GET of a task;
    every refusal, and every request with anything unusual about it, takes the full stack,
    so errors keep exactly one source. Response validation is kept, with a compiled validator,
    once per distinct body rather than once per request (B1)."""

    def __init__(self, app, sessions: Sessions, contract: Contract, validate: bool = True):
        self.app = app
        self.sessions = sessions
        self.required = contract.scopes["getTask"]
        schema = {"$ref": "#/components/schemas/TaskEnvelope", "components": contract.document["components"]}
        self.validator = jsonschema_rs.Draft4Validator(plain_json_schema(schema)) if validate else None
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
        if any(len(part) > MAX_ID for part in found.groups()):
            return None  # the full stack refuses it by the contract's maxLength
        names = [name for name, _ in scope["headers"]]
        if any(h in names for h in FULL_STACK) or len(names) != len(set(names)):
            return None  # a repeated header: let the full stack decide which one counts
        headers = dict(scope["headers"])
        scheme, _, token = headers.get(b"authorization", b"").decode("latin-1").partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            return None
        try:
            session = self.sessions.for_scope(scope)
            if session.faults:
                return None
            key = session.world.key(token)
            if key is None or not self.required <= key.scopes:
                return None
            # On the event loop no lock may be waited for, and no backlog of due transitions
            # worked off: either takes the full stack, on a worker thread.
            task = session.world.get_task_if_idle(key, *found.groups())
        except Exception:  # noqa: BLE001 - a read changes nothing: the full stack repeats it and answers
            return None
        if task is None:
            return None
        body = (json.dumps({"payload": task}, separators=(",", ":")) + "\n").encode()
        return body if self._conforms(body, task) else None

    def _conforms(self, body: bytes, task: dict) -> bool:
        if self.validator is None:
            return True
        digest = hashlib.blake2b(body, digest_size=16).digest()
        if digest in self._validated:
            self._validated.move_to_end(digest)
            return True
        if not self.validator.is_valid({"payload": task}):
            return False  # the full stack answers its 500 and logs why
        self._validated[digest] = None
        if len(self._validated) > VALIDATED_BODIES:
            self._validated.popitem(last=False)
        return True
