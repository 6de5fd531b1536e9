"""createUpload's body: streamed through python-multipart, keeping file sizes, never file bytes."""
from __future__ import annotations

import json
from dataclasses import dataclass

from connexion.validators import AbstractRequestBodyValidator
from jsonschema import Draft4Validator
from python_multipart.exceptions import FormParserError, MultipartParseError
from python_multipart.multipart import MultipartParser, MultipartState, parse_options_header
from starlette.datastructures import Headers

from sandbox import errors
from sandbox.domain.uploads import MAX_FILE_BYTES, MAX_FILES, File
from sandbox.http.validation import MAX_DETAILS, details_of, json_integer, no_constants, summary

FIELDS = ("file", "name", "meta")
MAX_BOUNDARY = 70  # RFC 2046
CONTEXT_KEY = "upload_form"


@dataclass(frozen=True)
class FormLimits:
    """The sandbox's bounds of an upload's form besides its files (which keep upstream's): meta
    is copied to the upload and to each of its tasks, and every list of them answers it."""
    meta_entries: int = 50       # {name, value} pairs, in one part or one part each
    meta_name_chars: int = 100
    meta_value_chars: int = 1000
    field_bytes: int = 64 * 1024  # any part but a file: name and meta are short
    parts: int = 200              # all parts: 100 files, a name and 50 meta entries fit


class _Form:
    """Collects parts as the parser calls back; raises as soon as a limit is crossed."""

    def __init__(self, limits: FormLimits):
        self.limits = limits
        self.parts = 0
        self.files: list[File] = []
        self.fields: dict[str, list[str]] = {}
        self._headers: dict[str, str] = {}
        self._header = b""
        self._value = b""
        self._name = self._filename = None
        self._size = 0
        self._chunks: list[bytes] = []

    def callbacks(self) -> dict:
        return {"on_part_begin": self._begin, "on_header_field": self._field,
                "on_header_value": self._hvalue, "on_header_end": self._hend,
                "on_headers_finished": self._headers_done, "on_part_data": self._data,
                "on_part_end": self._end}

    def _begin(self):
        self._headers, self._size, self._chunks = {}, 0, []
        self.parts += 1
        if self.parts > self.limits.parts:
            raise errors.BadRequest(f"An upload's form holds at most {self.limits.parts} parts.",
                                    [{"location": "body", "message": f"more than {self.limits.parts} parts"}])

    def _field(self, data, start, end):
        self._header += data[start:end]

    def _hvalue(self, data, start, end):
        self._value += data[start:end]

    def _hend(self):
        self._headers[self._header.decode("latin-1").lower()] = self._value.decode("latin-1")
        self._header = self._value = b""

    def _headers_done(self):
        disposition, options = parse_options_header(self._headers.get("content-disposition", ""))
        self._name = options.get(b"name", b"").decode("utf-8", "replace")
        filename = options.get(b"filename")
        self._filename = filename.decode("utf-8", "replace") if filename is not None else None
        where = f"body.{self._name or '(part)'}"
        # refused here, before the part's data, so no unknown or repeated field is ever held
        if disposition.lower() != b"form-data":
            raise errors.BadRequest("Each part needs Content-Disposition: form-data.",
                                    [{"location": where, "message": "not a form-data part"}])
        if self._name not in FIELDS:
            raise errors.BadRequest(f"Unknown form field {self._name!r}; the fields are file, name and meta.",
                                    [{"location": where, "message": "unknown field"}])
        if self._name == "name" and self._name in self.fields:
            raise (errors.InvalidMeta if self._name == "meta" else errors.BadRequest)(
                f"The form field {self._name!r} is given more than once.",
                [{"location": where, "message": "is given more than once"}])
        meta_parts = len(self.fields.get("meta", ()))
        if self._name == "meta" and meta_parts >= self.limits.meta_entries:
            raise errors.InvalidMeta(
                f"meta holds at most {self.limits.meta_entries} entries.",
                [{"location": "body.meta", "message": f"more than {self.limits.meta_entries} entries"}])
        if self._name == "file" and len(self.files) >= MAX_FILES:
            raise errors.TooManyFiles(f"An upload holds at most {MAX_FILES} files.",
                                      [{"location": "body.file", "message": f"more than {MAX_FILES} files"}])

    def _data(self, data, start, end):
        self._size += end - start
        if self._name == "file":
            if self._size > MAX_FILE_BYTES:
                raise errors.PayloadTooLarge(f"A file may hold at most {MAX_FILE_BYTES} bytes (40 MB).")
        elif self._size > self.limits.field_bytes:
            limit = self.limits.field_bytes
            raise (errors.InvalidMeta if self._name == "meta" else errors.BadRequest)(
                f"The form field {self._name!r} exceeds {limit} bytes.",
                [{"location": f"body.{self._name}", "message": f"longer than {limit} bytes"}])
        else:
            self._chunks.append(data[start:end])

    def _end(self):
        if self._name == "file":
            if not self._filename:  # a text field named `file`, not a file: curl -F file=@x.pdf
                raise errors.BadRequest(
                    "Each file part needs a filename, as a file upload sends (curl -F file=@invoice.pdf).",
                    [{"location": f"body.file[{len(self.files)}]", "message": "not a file: no filename"}])
            self.files.append(File(self._filename, self._size,
                                   self._headers.get("content-type", "application/octet-stream")))
        else:
            self.fields.setdefault(self._name, []).append(b"".join(self._chunks).decode("utf-8", "replace"))


class UploadValidator(AbstractRequestBodyValidator):
    """Parses and checks the form in Connexion's validation layer, hands the handler a summary
    through the request context, and passes an empty body on: Connexion would otherwise hold
    the whole upload (up to 4 GB) in memory to replay it."""

    def __init__(self, *args, limits: FormLimits = FormLimits(), **kwargs):
        super().__init__(*args, **kwargs)
        self.limits = limits

    async def wrap_receive(self, receive, *, scope):
        form = StreamedForm(Headers(scope=scope).get("content-type"), self._schema, self.limits)
        more = True
        while more:
            message = await receive()
            form.write(message.get("body", b""))
            more = message.get("more_body", False)
        files, name, meta = form.finish()
        scope.setdefault("extensions", {}).setdefault("connexion_context", {})[CONTEXT_KEY] = {
            "files": files, "name": name, "meta": meta}
        return _empty_body(receive), _without_body(scope)


class StreamedForm:
    """An upload's form checked as its bytes arrive, for the sandbox's validation and for the proxy
    (sandbox/proxy/), which forwards the bytes meanwhile: write() each chunk, then finish(). Each
    raises the error the sandbox answers as soon as the form breaks the contract or a bound."""

    def __init__(self, content_type: str | None, schema: dict, limits: FormLimits = FormLimits()):
        if content_type is None:
            raise errors.UnsupportedMediaType("The request body must be multipart/form-data, with its boundary.")
        _, options = parse_options_header(content_type)
        boundary = options.get(b"boundary")
        if not boundary or len(boundary) > MAX_BOUNDARY:
            raise errors.BadRequest(f"A multipart body needs a boundary of 1 to {MAX_BOUNDARY} characters "
                                    "in its Content-Type.", [{"location": "header.Content-Type",
                                                              "message": "no usable boundary"}])
        self.schema, self.limits = schema, limits
        self._form = _Form(limits)
        self._parser = MultipartParser(boundary, self._form.callbacks())

    def write(self, chunk: bytes) -> None:
        try:
            self._parser.write(chunk)
        except FormParserError as exc:  # the base of python-multipart's parse errors
            raise _malformed(exc) from None

    def finish(self) -> tuple[list[File], str | None, list]:
        """The files (names and sizes), the upload's name and its meta."""
        try:
            self._parser.finalize()
            if self._parser.state != MultipartState.END:  # python-multipart accepts a cut-off body
                raise MultipartParseError("the body ends before the closing boundary")
        except FormParserError as exc:
            raise _malformed(exc) from None
        name, meta = _checked(self._form, self.schema, self.limits)
        return self._form.files, name, meta


def _malformed(exc: Exception) -> errors.BadRequest:
    return errors.BadRequest(f"The multipart body is malformed: {exc}.", [{"location": "body", "message": str(exc)}])


def _checked(form: _Form, schema: dict, limits: FormLimits) -> tuple[str | None, list[dict]]:
    meta_texts = form.fields.get("meta", [])
    meta = _meta([_parse_meta(text) for text in meta_texts])
    _bounded(meta, limits)
    shown = {**{k: v[-1] for k, v in form.fields.items()}, "meta": meta,
             "file": [f.filename for f in form.files]}
    if not meta_texts:
        del shown["meta"]
    if not form.files:
        del shown["file"]
    details = details_of(Draft4Validator(schema), shown, "body")
    if details:
        meta_only = all(d["location"].startswith("body.meta") for d in details)
        raise (errors.InvalidMeta if meta_only else errors.BadRequest)(summary(details), details)
    return shown.get("name"), meta


def _parse_meta(text: str):
    try:
        return json.loads(text, parse_constant=no_constants, parse_int=json_integer)
    except RecursionError:
        raise errors.InvalidMeta("meta nests too deeply to be a list of {name, value} pairs.",
                                 [{"location": "body.meta", "message": "nested too deeply"}]) from None
    except json.JSONDecodeError as exc:
        raise errors.InvalidMeta(f"meta must be a JSON array of {{name, value}} pairs: {exc}.",
                                 [{"location": "body.meta", "message": "not valid JSON"}]) from None


def _meta(parts: list) -> list:
    """Either one part holding the whole JSON array (upstream's curl), or one part per entry
    (how OpenAPI 3.0 clients such as openapi-python-client send an array in multipart)."""
    if len(parts) == 1 and isinstance(parts[0], list):
        return parts[0]
    if any(isinstance(part, list) for part in parts):
        raise errors.InvalidMeta(
            "meta is either one part holding the JSON array, or one part per {name, value} entry; "
            "an array part cannot come with other meta parts.",
            [{"location": "body.meta", "message": "an array part among several meta parts"}])
    return parts  # each part one entry; the schema checks each


def _bounded(meta: list, limits: FormLimits) -> None:
    """meta's own bounds, each named; what is not a {name, value} of strings the schema refuses."""
    if len(meta) > limits.meta_entries:
        raise errors.InvalidMeta(f"meta holds at most {limits.meta_entries} entries; this one has {len(meta)}.",
                                 [{"location": "body.meta", "message": f"more than {limits.meta_entries} entries"}])
    details = []
    for i, entry in enumerate(meta):
        for field, limit in (("name", limits.meta_name_chars), ("value", limits.meta_value_chars)):
            text = entry.get(field) if isinstance(entry, dict) else None
            if isinstance(text, str) and len(text) > limit:
                details.append({"location": f"body.meta[{i}].{field}", "message": f"longer than {limit} characters"})
    if details:
        raise errors.InvalidMeta(summary(details), details[:MAX_DETAILS])


def _empty_body(receive):
    sent = False

    async def receive_():
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": b"", "more_body": False}
        return await receive()

    return receive_


def _without_body(scope):
    scope = dict(scope)
    scope["headers"] = [(k, v) for k, v in scope["headers"]
                        if k not in (b"content-type", b"content-length", b"transfer-encoding")]
    scope["headers"].append((b"content-length", b"0"))
    return scope
