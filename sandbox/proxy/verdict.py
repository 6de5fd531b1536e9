"""Both halves of an exchange judged against the contract: the request as the sandbox would judge it,
the answer against what the contract declares for it."""
from __future__ import annotations

import json
import logging
import zlib

from connexion.json_schema import Draft4ResponseValidator, resolve_refs
from connexion.lifecycle import ConnexionRequest
from connexion.middleware.context import ContextMiddleware
from connexion.middleware.routing import RoutingMiddleware
from connexion.datastructures import MediaTypeDict
from connexion.resolver import Resolver

from sandbox import errors
from sandbox.http import edge, envelope
from sandbox.http.context import bearer
from sandbox.http.multipart import FormLimits, StreamedForm
from sandbox.http.stack import RequestValidation, SandboxApp
from sandbox.http.validation import BodyValidator, ParametersValidator, compiled, details_of
from sandbox.spec import Contract

log = logging.getLogger("sandbox")
MULTIPART = "multipart/form-data"
CHECKED_BYTES = 1024 * 1024  # of an answer's body, kept to check it: the contract's answers are a few KiB
# The kinds of break an answer can make, in the order a report lists them.
UPSTREAM_KINDS = ("undeclared_status", "missing_header", "response_body")


class _Streamed:
    """createUpload's form in the proxy: checked while its bytes go on to the upstream
    (StreamedForm), so request validation passes it by untouched."""

    def __init__(self, *args, **kwargs):
        pass

    async def wrap_receive(self, receive, *, scope):
        return receive, scope


async def _passed(**_):
    return None, 204


class ClientCheck:
    """Whether a request breaks the contract: the error the sandbox itself would answer it with
    (routing, the bearer header's form, parameters, body), or None. Keys and scopes are the
    upstream's to judge: the proxy knows none."""

    def __init__(self, contract: Contract, form_limits: FormLimits = FormLimits()):
        self.contract = contract
        self.form_limits = form_limits
        resolved = resolve_refs(contract.document)
        self.resolved = resolved
        # The sandbox's own request validation, with nothing behind it: what it refuses, it raises.
        self._app = SandboxApp(__name__, middlewares=[
            RoutingMiddleware, RequestValidation, ContextMiddleware])
        self._app.add_api(contract.document, resolver=Resolver(function_resolver=lambda _: _passed),
                          strict_validation=True, validate_responses=False, validator_map={
                              "parameter": ParametersValidator,
                              "body": MediaTypeDict({"*/*json": BodyValidator, MULTIPART: _Streamed})})

    def form(self, operation: str, content_type: str | None) -> StreamedForm | None:
        """The checker of a multipart body, for an operation that takes one; raises if the body cannot be one."""
        method, template = self.contract.where[operation]
        content = self.resolved["paths"][template][method.lower()].get("requestBody", {}).get("content", {})
        if MULTIPART not in content or not (content_type or "").lower().startswith(MULTIPART):
            return None
        return StreamedForm(content_type, content[MULTIPART]["schema"], self.form_limits)

    async def request(self, scope, body: bytes) -> errors.SandboxError | None:
        """`scope` as the request came (not changed here), `body` the whole body (empty for a
        multipart one, checked as it streams)."""
        operation, _ = self.contract.operation(scope["method"], scope["path"])
        if operation is None:
            allowed = self.contract.allowed_methods(scope["path"])
            if allowed:
                return errors.MethodNotAllowed(
                    f"{scope['method']} is not allowed on {scope['path']}; use {' or '.join(allowed)}.", list(allowed))
            return errors.RouteNotFound(f"No operation at {scope['path']}.")
        if operation in self.contract.secured:
            header = next((v.decode("latin-1") for k, v in scope["headers"] if k == b"authorization"), None)
            try:
                bearer(header)
            except errors.SandboxError as exc:
                return exc
        copy = {**scope, "headers": list(scope["headers"]), "extensions": {}}
        sent = False

        async def receive():
            nonlocal sent
            if sent:
                return {"type": "http.disconnect"}
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        async def send(_message):
            pass

        try:
            await edge.RequestGuardMiddleware(self._app, [self.contract])(copy, receive, send)
        except Exception as exc:  # whatever the sandbox's validation raises, as the sandbox would answer it
            found = envelope.translate(ConnexionRequest(copy, receive), exc, self.contract)
            if found.status >= 500:  # the proxy's own failure: no verdict on the client
                log.error("request check failed on %s %s: %r", scope["method"], scope["path"], exc)
                return None
            return found
        return None


def _media(headers: dict[str, str]) -> str | None:
    value = headers.get("content-type")
    return value.split(";")[0].strip().lower() if value is not None else None


def decoded(body: bytes, encoding: str | None) -> bytes | None:
    """The body as its media type reads it; None for an encoding the proxy does not read, or one
    that inflates past CHECKED_BYTES."""
    if encoding in (None, "", "identity"):
        return body
    if encoding in ("gzip", "x-gzip", "deflate"):
        try:
            inflater = zlib.decompressobj(47 if encoding != "deflate" else 15)
            out = inflater.decompress(body, CHECKED_BYTES)
            return out if not inflater.unconsumed_tail else None  # past the bound: not checked
        except zlib.error:
            return None
    return None


class AnswerCheck:
    """Where an answer breaks the contract: each problem {kind, location, message}, kind one of
    UPSTREAM_KINDS. A status the operation does not declare says all there is to say."""

    def __init__(self, resolved: dict, contract: Contract):
        self.resolved = resolved
        self.contract = contract

    def problems(self, operation: str, status: int, headers: list[tuple[bytes, bytes]],
                 body: bytes | None) -> list[dict]:
        """`body` as its media type reads it (sandbox/proxy/forward.py decodes it), or None when it
        was not read (too long, an encoding the proxy does not read): then only status and headers count."""
        method, template = self.contract.where[operation]
        responses = self.resolved["paths"][template][method.lower()]["responses"]
        declared = responses.get(str(status)) or responses.get(f"{status // 100}XX") or responses.get("default")
        if declared is None:
            listed = ", ".join(sorted(s for s in responses))
            return [_problem("undeclared_status", "status",
                             f"{status} is not a status {operation} declares ({listed})")]
        named = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in reversed(headers)}
        found = []
        for name, header in (declared.get("headers") or {}).items():
            if header.get("required") and name.lower() not in named:
                found.append(_problem("missing_header", f"header.{name}", "is required"))
        content = declared.get("content") or {}
        media = _media(named)
        if not content:
            if body or body is None and named.get("content-length", "0") != "0":
                found.append(_problem("response_body", "body", f"a body where {operation} declares none for {status}"))
            return found
        if media is None:
            found.append(_problem("missing_header", "header.Content-Type",
                                  f"is required with a body ({', '.join(content)})"))
            return found
        if media not in {m.lower() for m in content}:
            found.append(_problem("response_body", "header.Content-Type",
                                  f"{media} is not a media type {operation} declares for {status} ({', '.join(content)})"))
            return found
        schema = content[next(m for m in content if m.lower() == media)].get("schema")
        if schema is None or body is None or "json" not in media:
            return found
        try:
            value = json.loads(body) if body else None
        except (ValueError, RecursionError) as exc:
            found.append(_problem("response_body", "body", f"not JSON: {exc}"))
            return found
        for detail in details_of(compiled(schema, Draft4ResponseValidator), value, "body"):
            found.append(_problem("response_body", detail["location"], detail["message"]))
        return found


def _problem(kind: str, location: str, message: str) -> dict:
    return {"kind": kind, "location": location, "message": message}
