"""Connexion's AsyncApp with its per-request rebuilding taken out: validators, URI parsers and
handler calls are prepared once per operation, from the contract (create_app lists the layers)."""
from __future__ import annotations

import contextvars
import functools
import json
import re

import orjson
from connexion import AsyncApp
from connexion.apps.abstract import AbstractApp
from connexion.apps.asynchronous import AsyncApi, AsyncASGIApp
from connexion.exceptions import NonConformingResponseBody
from connexion.json_schema import Draft4ResponseValidator
from connexion.middleware.swagger_ui import SwaggerUIAPI, SwaggerUIMiddleware
from connexion.spec import Specification
from connexion.middleware.request_validation import (
    RequestValidationAPI, RequestValidationMiddleware, RequestValidationOperation,
)
from connexion.utils import inspect_function_arguments, is_nullable

from sandbox.schemas import Compiled
from sandbox.http.validation import BODY, PARAMETERS, compiled

# Connexion validates a spec against the OpenAPI schema on every add_api: 60 ms of a start-up of
# about 400, and of every test's app. The sandbox adds only its own two specs, which `task-sandbox
# check` and tests/test_spec.py validate (with openapi-spec-validator, the stricter of the two),
# so SandboxApp.add_api marks them trusted. A context variable, not a swapped attribute: another
# thread building any other Connexion app meanwhile still validates its spec.
_TRUSTED_SPEC = contextvars.ContextVar("sandbox_trusted_spec", default=False)
_validate_spec = Specification.__dict__["_validate_spec"].__func__


def _validate_unless_trusted(cls, spec) -> None:
    if not _TRUSTED_SPEC.get():
        _validate_spec(cls, spec)


Specification._validate_spec = classmethod(_validate_unless_trusted)
# Every private name of Connexion the sandbox relies on, here and in sandbox/http/validation.py and
# sandbox/http/multipart.py (validators that subclass Connexion's): tests/http/test_stack.py fails when an
# upgrade of Connexion renames or drops one, so the upgrade shows what broke. (owner, name, how:
# "attribute" of the class, or "set in __init__" on each instance.)
CONNEXION_PRIVATE = [
    ("connexion.spec.Specification", "_validate_spec", "attribute"),
    ("connexion.apps.abstract.AbstractApp", "_middleware_app", "read in __init__"),
    ("connexion.middleware.request_validation.RequestValidationOperation", "_operation", "set in __init__"),
    ("connexion.middleware.request_validation.RequestValidationOperation", "_validator_map", "set in __init__"),
    ("connexion.validators.abstract.AbstractRequestBodyValidator", "_schema", "set in __init__"),
    ("connexion.validators.abstract.AbstractRequestBodyValidator", "_nullable", "set in __init__"),
    ("connexion.validators.abstract.AbstractRequestBodyValidator", "_required", "set in __init__"),
    ("connexion.validators.abstract.AbstractRequestBodyValidator", "_encoding", "set in __init__"),
    ("connexion.validators.json.JSONRequestBodyValidator", "_validator", "attribute"),
    ("connexion.middleware.swagger_ui.SwaggerUIAPI", "_spec_for_prefix", "attribute"),
    ("connexion.middleware.swagger_ui.SwaggerUIMiddleware", "router", "set in __init__"),
]
SWAGGER_PATHS = re.compile(r"^(/_sandbox)?/(ui(/.*)?|openapi\.(json|yaml))$")
JSON = "application/json"
JSON_HEADER = (b"content-type", JSON.encode())


def serialise(payload) -> bytes:
    """orjson, or the standard library for what orjson refuses (integers past 64 bits)."""
    try:
        return orjson.dumps(payload) + b"\n"
    except TypeError:
        return json.dumps(payload, separators=(",", ":"), allow_nan=False).encode() + b"\n"


class _Operation:
    """Calls one operation's handler, prepared from the contract once: the path and query
    parameters and the JSON body as request validation left them in the scope, what security
    found, and the response schema each answer is checked against. Connexion's own decorators
    rebuild themselves, a URI parser and a signature inspection on every request."""

    def __init__(self, spec_operation, function, validate_responses: bool):
        self.operation = spec_operation
        self.function = function
        self.validate_responses = validate_responses
        self.query = {p["name"] for p in spec_operation.parameters if p["in"] == "query"}
        arguments, self.any_keyword = inspect_function_arguments(function)
        self.arguments = set(arguments)
        self._responses: dict[int, Compiled | None] = {}  # per status: its schema, compiled

    def kwargs(self, scope) -> dict:
        extensions = scope["extensions"]
        path, query = extensions[PARAMETERS]  # resolved by sandbox/http/validation.py
        kwargs = dict(path)
        kwargs.update((k, v) for k, v in query.items() if k in self.query)
        if BODY in extensions:
            kwargs["body"] = extensions[BODY]
        for name, value in extensions.get("connexion_context", {}).items():  # token_info, parsed forms
            if self.any_keyword or name in self.arguments:
                kwargs[name] = value
        return kwargs

    def check(self, payload, status: int) -> None:
        """Every answer a handler gives is checked against the contract (B1), as the object it
        is: Connexion's response validation would parse the bytes back first."""
        if not self.validate_responses:
            return
        if status not in self._responses:
            schema = self.operation.response_schema(str(status), JSON)
            self._responses[status] = compiled(schema, Draft4ResponseValidator) if schema else None
        validator = self._responses[status]
        problem = next(validator.iter_errors(payload), None) if validator else None
        if problem is not None:
            where = "".join(f"[{p!r}]" for p in problem.absolute_path) or "the top"
            raise NonConformingResponseBody(
                detail=f"Response body does not conform to specification. {problem.message} at {where}")

    async def __call__(self, scope, receive, send) -> None:
        found = await self.function(**self.kwargs(scope))
        if callable(found):  # an answer that sends itself: a stream (sandbox/control/live.py)
            return await found(scope, receive, send)
        payload, status = found
        self.check(payload, status)
        if payload is None:  # 204: no body, and no Content-Length either (RFC 9110 8.6)
            headers, body = [], b""
        else:
            body = serialise(payload)
            headers = [(b"content-length", b"%d" % len(body)), JSON_HEADER]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})


class _Api(AsyncApi):
    def __init__(self, *args, validate_responses: bool = False, **kwargs):
        self.validate_responses = validate_responses  # before super(), which makes the operations
        super().__init__(*args, **kwargs)

    def make_operation(self, spec_operation) -> _Operation:
        return _Operation(spec_operation, spec_operation.function, self.validate_responses)


class _HandlerLayer(AsyncASGIApp):
    api_cls = _Api


class _ValidationOperation(RequestValidationOperation):
    """Connexion's request validation, with the parameter validator and each body validator
    built once per operation instead of once per request."""

    @functools.cached_property
    def _parameters(self):
        uri_parser = self._operation.uri_parser_class(self._operation.parameters, self._operation.body_definition())
        return self._validator_map["parameter"](self._operation.parameters, uri_parser=uri_parser,
                                                strict_validation=self.strict_validation,
                                                security_query_params=self.security_query_params)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._bodies: dict[str, object] = {}  # per media type, for UTF-8 bodies

    def _body(self, mime_type: str, encoding: str):
        if encoding != "utf-8":  # whatever a client names: built for this request only
            return self._new_body(mime_type, encoding)
        if mime_type not in self._bodies:
            self._bodies[mime_type] = self._new_body(mime_type, encoding)
        return self._bodies[mime_type]

    def _new_body(self, mime_type: str, encoding: str):
        schema = self._operation.body_schema(mime_type)
        validator = self._validator_map["body"].get(mime_type) if schema else None
        if validator is None:
            return None
        return validator(schema=schema, required=self._operation.request_body.get("required", False),
                         nullable=is_nullable(self._operation.body_definition(mime_type)), encoding=encoding,
                         strict_validation=self.strict_validation,
                         uri_parser=self._parameters.uri_parser)

    async def __call__(self, scope, receive, send):
        self._parameters.validate(scope)
        if any(name == b"content-type" for name, _ in scope["headers"]):
            mime_type, encoding = self.extract_content_type(scope["headers"])
            self.validate_mime_type(mime_type)
            body = self._body(mime_type, encoding)
        else:  # Connexion would take the first declared type, which always passes its check
            body = self._body(*self.extract_content_type(()))
        if body is not None:
            receive, scope = await body.wrap_receive(receive, scope=scope)
        await self.next_app(scope, receive, send)


class _ValidationApi(RequestValidationAPI):
    def make_operation(self, spec_operation) -> _ValidationOperation:
        return _ValidationOperation(self.next_app, operation=spec_operation,
                                    strict_validation=self.strict_validation, validator_map=self.validator_map)


class RequestValidation(RequestValidationMiddleware):
    api_cls = _ValidationApi


class _SwaggerApi(SwaggerUIAPI):
    """Connexion serves a spec whose servers are the base path alone, "" for the public API at the
    root: Swagger UI then lists a blank server. This sandbox comes first, by its path, then the
    servers the contract names (the platform itself)."""

    def _spec_for_prefix(self, request) -> dict:
        spec = super()._spec_for_prefix(request)
        here = (spec.get("servers") or [{}])[0].get("url") or "/"
        named = [s for s in self.specification.raw.get("servers", []) if s.get("url") != here]
        return {**spec, "servers": [{"url": here, "description": "this sandbox"}, *named]}


class SwaggerUI(SwaggerUIMiddleware):
    """Connexion routes every request through Swagger UI's router first (on a copy of the
    scope); only `<api>/ui`, `<api>/ui/...` and `<api>/openapi.json|yaml` can be its, for the
    public API at the root and the control plane under /_sandbox, so the rest go straight on."""

    def add_api(self, specification, base_path=None, arguments=None, **kwargs) -> None:
        """Connexion's own, with _SwaggerApi in place of SwaggerUIAPI."""
        api = _SwaggerApi(specification, base_path=base_path, arguments=arguments, default=self.default_fn, **kwargs)
        self.router.mount(api.base_path, app=api.router)

    async def __call__(self, scope, receive, send) -> None:
        path = scope.get("path", "") if scope["type"] == "http" else ""
        if SWAGGER_PATHS.match(path):
            return await super().__call__(scope, receive, send)
        await self.app(scope, receive, send)


class SandboxApp(AsyncApp):
    """An AsyncApp whose innermost layer calls handlers through `_Operation`; handlers are
    coroutines, so they run on the event loop with no thread pool in between."""

    def __init__(self, import_name: str, **kwargs):
        self._middleware_app = _HandlerLayer()
        AbstractApp.__init__(self, import_name, **kwargs)  # AsyncApp's own __init__ only sets the layer

    def add_api(self, specification: dict, **kwargs):
        """One of the sandbox's own specs: trusted, not validated again (see _TRUSTED_SPEC)."""
        token = _TRUSTED_SPEC.set(True)
        try:
            return super().add_api(specification, **kwargs)
        finally:
            _TRUSTED_SPEC.reset(token)
