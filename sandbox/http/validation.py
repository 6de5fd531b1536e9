"""Validators compiled once per schema: requests report every problem with its location (B2) and
never 500 on bad bytes; responses are checked against the contract on every answer (B1)."""
from __future__ import annotations

import json
import math
import re
import typing as t

import jsonschema_rs
from connexion.json_schema import Draft4RequestValidator
from connexion.lifecycle import ConnexionRequest
from connexion.validators import JSONRequestBodyValidator, ParameterValidator
from jsonschema import Draft4Validator
from starlette.datastructures import Headers, QueryParams

from sandbox import errors
from sandbox.schemas import Compiled, plain_json_schema

_REQUIRED = re.compile(r"^'(.+)' is a required property$")


def _location(prefix: str, error) -> str:
    path = prefix
    for part in error.absolute_path:
        path += f"[{part}]" if isinstance(part, int) else f".{part}"
    missing = _REQUIRED.match(error.message) if error.validator == "required" else None
    return f"{path}.{missing.group(1)}" if missing else path


BODY = "sandbox.body"  # the scope extension: the JSON body, parsed and validated
MAX_DETAILS = 50   # one entry per problem, within reason: 21,000 empty issues need not list 21,000
MAX_MESSAGE = 200  # jsonschema repeats the offending value: a 1 MB string must not come back twice


def _short(message: str) -> str:
    return message if len(message) <= MAX_MESSAGE else message[:MAX_MESSAGE - 1] + "…"


def _charset(content_type: str) -> str | None:
    for param in content_type.split(";")[1:]:
        key, _, value = param.partition("=")
        if key.strip().lower() == "charset":
            return value.strip().strip('"').lower()
    return None


def no_constants(name: str):
    raise json.JSONDecodeError(f"{name} is not JSON", name, 0)


def finite(text: str) -> float:
    """1e400 is valid JSON but no number an answer could carry back (B1): refuse it."""
    value = float(text)
    if not math.isfinite(value):
        raise json.JSONDecodeError(f"{text} is too large a number", text, 0)
    return value


INT64 = range(-2**63, 2**63)  # what an integer of the contract can hold unless its schema says less
LONG_DIGITS = re.compile(rb"\d{309}")  # the fewest digits of an integer no float can hold


def json_integer(text: str) -> int | float:
    """parse_int for json.loads: an integer past signed 64 bits becomes the float JSON readers
    in most languages make of it, so a schema saying `integer` refuses it by name; one too long
    to be a float becomes infinity, which `too_large` finds (Python's own int() raises a plain
    ValueError past 4,300 digits, which would be a 500)."""
    if len(text) <= 20:  # 19 digits and a sign: int() is cheap, and the range decides
        value = int(text)
        if value in INT64:
            return value
    return float(text)


def too_large(value, prefix: str) -> list[dict]:
    """Where a parsed body holds a number too large to be one (json_integer's infinities)."""
    found, stack = [], [(prefix, value)]
    while stack and len(found) < MAX_DETAILS:
        where, value = stack.pop()
        if isinstance(value, float) and math.isinf(value):
            found.append({"location": where, "message": "is too large a number"})
        elif isinstance(value, dict):
            stack.extend((f"{where}.{k}", v) for k, v in reversed(value.items()))
        elif isinstance(value, list):
            stack.extend((f"{where}[{i}]", v) for i, v in reversed(list(enumerate(value))))
    return found


_COMPILED: dict[tuple[int, type, bool], tuple[dict, Compiled]] = {}
MAX_COMPILED = 4096  # every app of a test run adds its own schema objects


def compiled(schema: dict, kind: type = Draft4Validator, formats: bool = True) -> Compiled:
    """Connexion hands validators the same schema object for an operation on every request, so
    its identity is the key; the entry keeps the object alive, so the id is never reused."""
    key = (id(schema), kind, formats)
    hit = _COMPILED.get(key)
    if hit is None:
        if len(_COMPILED) >= MAX_COMPILED:
            _COMPILED.clear()
        checker = kind.FORMAT_CHECKER if formats else None
        hit = _COMPILED[key] = (schema, Compiled(schema, kind(schema, format_checker=checker)))
    return hit[1]


def details_of(validator, value, prefix: str) -> list[dict]:
    found = []
    for error in validator.iter_errors(value):
        found.append(error)
        if len(found) > MAX_DETAILS:
            break
    found.sort(key=lambda e: [str(p) for p in e.absolute_path])
    details = [{"location": _location(prefix, e), "message": _short(_allowed(e))} for e in found[:MAX_DETAILS]]
    if len(found) > MAX_DETAILS:
        details.append({"location": prefix, "message": f"more problems after the first {MAX_DETAILS}"})
    return details


def _allowed(error) -> str:
    """An unexpected property names the ones the schema allows, so a mistyped field is found at once."""
    if error.validator == "additionalProperties" and error.validator_value is False:
        allowed = sorted(error.schema.get("properties", {}))
        if allowed:
            return f"{error.message}; allowed: {', '.join(allowed)}"
    return error.message


def summary(details: list[dict]) -> str:
    first = details[0]
    more = f" (and {len(details) - 1} more problem(s), see details)" if len(details) > 1 else ""
    return f"Invalid request: {first['location']}: {first['message']}{more}"


class BodyValidator(JSONRequestBodyValidator):
    """Connexion's JSON validator stops at the first error, 500s on non-UTF-8 bytes,
    takes a chunked body (no Content-Length) for a missing one and builds its validator anew
    for every request."""

    @property
    def _validator(self) -> Compiled:
        return compiled(self._schema, Draft4RequestValidator)

    async def wrap_receive(self, receive, *, scope):
        headers = Headers(scope=scope)
        has_body = int(headers.get("content-length") or 0) or "chunked" in headers.get("transfer-encoding", "")
        if has_body and "content-type" not in headers:
            # Connexion would guess JSON for validation but hand the handler raw bytes.
            raise errors.UnsupportedMediaType("The request body needs a Content-Type: application/json header.")
        charset = _charset(headers.get("content-type", ""))
        if charset not in (None, "utf-8", "utf8"):
            raise errors.UnsupportedMediaType(f"JSON bodies must be UTF-8 (RFC 8259), not charset={charset}.")
        if not int(headers.get("content-length") or 0):
            if "chunked" in headers.get("transfer-encoding", "").lower():
                receive, scope = await _buffer_chunked(receive, scope)
            elif self._required:
                raise errors.BadRequest("The request body must not be empty; send a JSON object.",
                                        [{"location": "body", "message": "the body is required"}])
        return await super().wrap_receive(receive, scope=scope)

    async def _parse(self, stream, scope) -> t.Any:
        raw = b"".join([message async for message in stream])
        if not raw:
            return None
        try:
            # the handler gets the very object that was validated, parsed once
            body = scope.setdefault("extensions", {})[BODY] = json.loads(
                raw.decode(self._encoding), parse_constant=no_constants, parse_float=finite, parse_int=json_integer)
        except UnicodeDecodeError:
            raise errors.InvalidJson(f"The request body is not valid {self._encoding} text.",
                                     [{"location": "body", "message": "not valid UTF-8"}]) from None
        except RecursionError:
            raise errors.InvalidJson("The request body nests too deeply to be a report.",
                                     [{"location": "body", "message": "nested too deeply"}]) from None
        except json.JSONDecodeError as exc:
            raise errors.InvalidJson(f"The request body is not valid JSON: {exc}.",
                                     [{"location": "body", "message": str(exc)}]) from None
        huge = too_large(body, "body") if LONG_DIGITS.search(raw) else []
        if huge:
            raise errors.BadRequest(summary(huge), huge)
        if body is None and not self._nullable:  # `null` is a body, and not an object: not a body left out
            raise errors.BadRequest("The request body is JSON null; send a JSON object, or no body where none is needed.",
                                    [{"location": "body", "message": "None is not of type 'object'"}])
        return body

    def _validate(self, body: t.Any) -> None:
        if body is None and not self._required:
            return  # an optional body left out
        if body is None and not self._nullable:
            raise errors.BadRequest("The request body must not be empty; send a JSON object.",
                                    [{"location": "body", "message": "the body is required"}])
        details = details_of(self._validator, body, "body")
        if details:
            raise errors.BadRequest(summary(details), details)


async def _buffer_chunked(receive, scope):
    """Read a chunked body whole (the body limit still applies while reading) and replay it
    with a Content-Length, which is what Connexion's validators rely on."""
    chunks, more = [], True
    while more:
        message = await receive()
        chunks.append(message.get("body", b""))
        more = message.get("more_body", False)
    body = b"".join(chunks)
    scope = dict(scope)
    scope["headers"] = [(k, v) for k, v in scope["headers"] if k not in (b"content-length", b"transfer-encoding")]
    scope["headers"].append((b"content-length", str(len(body)).encode()))
    replayed = False

    async def replay():
        nonlocal replayed
        if not replayed:
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay, scope


_ANY: dict = {}
PARAMETERS = "sandbox.parameters"  # the scope extension: (path, query) as the contract types them


class ParametersValidator(ParameterValidator):
    """Reports every bad parameter, each named `query.limit`, `path.task_id`, ...; built once
    per operation, it checks all of them in one compiled call when nothing is wrong."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        every = {f"{where}.{p['name']}": plain_json_schema(p.get("schema", _ANY))
                 for where, params in self.parameters.items() for p in params}
        self._every = jsonschema_rs.Draft4Validator({"type": "object", "properties": every}, validate_formats=False)
        self._required = {f"{where}.{p['name']}" for where, params in self.parameters.items()
                          for p in params if p.get("required")}
        self._query_names = {p["name"] for p in self.parameters.get("query", ())} | set(self.security_query_params)
        self._only_path_and_query = set(self.parameters) <= {"path", "query"}
        # Path parameters that are plain strings are final as routing found them: Connexion's URI
        # parser (about 5% of a request) would return them unchanged.
        self._plain_path = all(p.get("schema", _ANY).get("type") == "string" and not p["schema"].get("nullable")
                               and p.get("style", "simple") == "simple" for p in self.parameters.get("path", ()))

    def validate_request(self, request: ConnexionRequest) -> None:
        query_string = request.scope.get("query_string", b"")
        path = request.scope.get("path_params", {}) if self._plain_path else request.path_params
        sources = {"path": path, "query": request.query_params if query_string else {}}
        values = {f"{where}.{name}": value for where in self.parameters if where in sources
                  for name, value in sources[where].items()}
        simple = self._only_path_and_query
        if query_string:  # a repeated or (strictly) unknown parameter: let _explain name it
            raw = QueryParams(query_string)
            simple = simple and len(raw.multi_items()) == len(raw) and (
                not self.strict_validation or raw.keys() <= self._query_names)
        try:
            if simple and self._required <= values.keys() and self._every.is_valid(values) and \
                    not any(type(v) is int and v not in INT64 for v in values.values()):
                request.scope["extensions"][PARAMETERS] = sources["path"], sources["query"]
                return
        except (ValueError, OverflowError):  # values Rust cannot take (huge ints): explain below
            pass
        self._explain(request)
        request.scope["extensions"][PARAMETERS] = request.path_params, request.query_params

    def _explain(self, request: ConnexionRequest) -> None:
        details: list[dict] = []
        if self.strict_validation:
            for name in sorted(self.validate_query_parameter_list(request, self.security_query_params)):
                details.append({"location": f"query.{name}", "message": "is not a parameter of this operation"})
        repeated = QueryParams(request.scope.get("query_string", b""))
        sources = {"query": request.query_params, "path": request.path_params,
                   "header": request.headers, "cookie": request.cookies}
        for where, params in self.parameters.items():
            for param in params:
                value = sources[where].get(param["name"])
                location = f"{where}.{param['name']}"
                if where == "query" and len(repeated.getlist(param["name"])) > 1:
                    details.append({"location": location, "message": "is given more than once"})
                    continue
                if value is None:
                    if param.get("required"):
                        details.append({"location": location, "message": "is required"})
                    continue
                if type(value) is int and value not in INT64:
                    details.append({"location": location, "message": "is beyond a signed 64-bit integer"})
                    continue
                details += details_of(compiled(param.get("schema", _ANY), formats=False), value, location)
        if len(details) > MAX_DETAILS:  # 1,500 unknown parameters fit in a URL: their answer need not
            details = details[:MAX_DETAILS] + [{"location": "query",
                                                "message": f"more problems after the first {MAX_DETAILS}"}]
        if details:
            raise errors.BadRequest(summary(details), details)

