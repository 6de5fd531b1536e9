"""createUpload over HTTP: the created shape, one task per file (B6, B8), upstream limits and errors (B2, B3)."""
from __future__ import annotations

import json

import pytest
from openapi_schema_validator import OAS30Validator

from sandbox import spec
from sandbox.app import create_app
from sandbox.domain.clock import Clock, parse_timestamp
from sandbox.http.multipart import FormLimits
from tests.conftest import BASE, NOW, TEAM, auth

URL = f"{BASE}/upload"
MiB = 1024 * 1024
# The keys of the upstream example (upload.create.response.json), in its order.
CREATED_KEYS = ["id", "name", "projectId", "status", "fileType", "fileSize", "createdAt", "updatedAt"]
META = [{"name": "category", "value": "invoice"}, {"name": "department", "value": "finance"}]
PDF = ("file", ("invoice.pdf", b"%PDF-1.4 one", "application/pdf"))
BOUNDARY = {"Content-Type": "multipart/form-data; boundary=xyz"}


def pdf(filename: str = "invoice.pdf", size: int = 10) -> tuple:
    return ("file", (filename, bytes(size), "application/pdf"))


def part(name: str, filename: str | None, data: bytes) -> bytes:
    disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename else "")
    return f"--xyz\r\nContent-Disposition: {disposition}\r\n\r\n".encode() + data + b"\r\n"


def upload(client, files, project: str = "proj_123456", **data):
    if "meta" in data:
        data["meta"] = json.dumps(data["meta"])
    response = client.post(f"/v2/{TEAM}/project/{project}/upload", headers=auth(), files=files, data=data)
    assert response.status_code == 201, response.text
    assert response.headers["content-type"] == "application/json"
    return response.json()


def tasks_of(client, upload_id: str, project: str = "proj_123456") -> list[dict]:
    response = client.get(f"/v2/{TEAM}/project/{project}/task", headers=auth(), params={"upload_id": upload_id})
    assert response.status_code == 200, response.text
    return response.json()["payload"]


def get_upload(client, upload_id: str, project: str = "proj_123456") -> dict:
    response = client.get(f"/v2/{TEAM}/project/{project}/upload/{upload_id}", headers=auth())
    assert response.status_code == 200, response.text
    return response.json()["payload"]


def counts(world) -> tuple[int, int]:
    return len(world.records.tasks), len(world.records.uploads)


def assert_error(response, status: int, code: str, location: str | None = None) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    document = spec.load_public()
    OAS30Validator({"$ref": "#/components/schemas/Error", "components": document["components"]}).validate(body)
    assert body["code"] == code, body
    if location is not None:
        assert body.get("details"), body
        for detail in body["details"]:
            where = detail["location"]
            assert where == location or where.startswith((location + ".", location + "[")), body
    return body


# -- success --

def test_created_body_follows_the_upstream_example(client):
    body = upload(client, [pdf("Scan.PDF", 1000), pdf("second.png", 234)], name="Important Document", meta=META)
    assert list(body) == CREATED_KEYS
    assert body["id"].startswith("upl_")
    assert body["name"] == "Important Document"
    assert body["projectId"] == "proj_123456"
    assert body["status"] == "processing"
    assert body["fileType"] == "pdf"  # the first file's extension, lower-cased
    assert body["fileSize"] == 1234
    assert body["createdAt"] == body["updatedAt"] == NOW


def test_name_defaults_to_the_first_filename(client):
    body = upload(client, [pdf("first.pdf"), pdf("second.pdf")])
    assert body["name"] == "first.pdf"
    assert get_upload(client, body["id"])["name"] == "first.pdf"


def test_project_id_is_the_paths_project(client):
    assert upload(client, [PDF], project="proj_234567")["projectId"] == "proj_234567"


@pytest.mark.parametrize("project, first_step", [
    pytest.param("proj_123456", "EXTRACT", id="single-step"),
    pytest.param("proj_234567", "CLASSIFY", id="two-steps"),
])
def test_one_processing_task_per_file(client, project, first_step):
    names = ["a.pdf", "b.pdf", "c.png"]
    body = upload(client, [pdf(n) for n in names], project=project, meta=META)
    tasks = tasks_of(client, body["id"], project)
    assert sorted(t["name"] for t in tasks) == names
    for task in tasks:
        assert task["status"] == "PROCESSING"
        assert task["step_type"] == first_step
        assert task["meta"] == META
        assert task["upload_id"] == body["id"]
        assert task["project_id"] == project
        assert task["created_at"] == NOW
    assert len({t["id"] for t in tasks}) == len(names)
    created = get_upload(client, body["id"], project)
    assert created["status"] == "PROCESSING"
    assert created["meta"] == META


@pytest.mark.parametrize("parts", [
    [json.dumps(META).encode()],                      # one part, the whole array: upstream's curl
    [json.dumps(entry).encode() for entry in META],   # one part per entry: OpenAPI 3.0 clients
], ids=["one-array-part", "a-part-per-entry"])
def test_meta_is_accepted_both_ways(client, parts):
    content = body(part("file", "a.pdf", b"%PDF"), *(part("meta", None, p) for p in parts))
    response = client.post(f"/v2/{TEAM}/project/proj_123456/upload", headers={**auth(), **BOUNDARY},
                           content=content)
    assert response.status_code == 201, response.text
    created = get_upload(client, response.json()["id"])
    assert created["meta"] == META
    assert [t["meta"] for t in tasks_of(client, created["id"])] == [META]


def test_meta_defaults_to_empty(client):
    body = upload(client, [PDF])
    assert get_upload(client, body["id"])["meta"] == []
    assert [t["meta"] for t in tasks_of(client, body["id"])] == [[]]


def test_ids_are_deterministic():
    def run() -> list:
        app = create_app(clock=Clock(now=parse_timestamp(NOW), frozen=True))
        with app.test_client() as client:
            ids = []
            for files in ([pdf("a.pdf"), pdf("b.pdf")], [pdf("c.pdf")]):
                created = upload(client, files, meta=META)
                ids.append((created["id"], sorted(t["id"] for t in tasks_of(client, created["id"]))))
            return ids

    first = run()
    assert first[0][0] != first[1][0]
    assert run() == first


@pytest.mark.parametrize("project, first_step", [
    pytest.param("proj_123456", "EXTRACT", id="single-step"),
    pytest.param("proj_234567", "CLASSIFY", id="two-steps"),
])
def test_tasks_settle_into_review_after_the_processing_delay(client, world, clock, project, first_step):
    body = upload(client, [pdf("a.pdf"), pdf("b.pdf")], project=project)
    delay = world.records.projects[project].processing_delay
    clock.advance(delay - 1)
    assert {t["status"] for t in tasks_of(client, body["id"], project)} == {"PROCESSING"}
    assert get_upload(client, body["id"], project)["status"] == "PROCESSING"
    clock.advance(1)
    tasks = tasks_of(client, body["id"], project)
    assert [(t["status"], t["step_type"]) for t in tasks] == [("REVIEWING", first_step)] * 2
    assert get_upload(client, body["id"], project)["status"] == "IN_REVIEW"


# -- limits (upstream: 40 MB a file, 100 files a batch) --

def test_a_file_of_exactly_40_mib_is_accepted(client):
    body = upload(client, [pdf("big.pdf", 40 * MiB)])
    assert body["fileSize"] == 40 * MiB
    assert len(tasks_of(client, body["id"])) == 1


def test_100_files_are_accepted(client):
    body = upload(client, [pdf(f"f{i:03}.pdf", 1) for i in range(100)])
    assert body["fileSize"] == 100
    response = client.get(f"{BASE}/task", headers=auth(), params={"upload_id": body["id"], "limit": 1})
    assert response.json()["count"] == 100


@pytest.mark.parametrize("files, status, code", [
    pytest.param([pdf("big.pdf", 40 * MiB + 1)], 413, "payload_too_large", id="one-byte-over-40-mib"),
    pytest.param([pdf("ok.pdf"), pdf("big.pdf", 40 * MiB + 1)], 413, "payload_too_large", id="second-file-over"),
    pytest.param([pdf(f"f{i:03}.pdf", 1) for i in range(101)], 400, "too_many_files", id="101-files"),
])
def test_over_the_limits(client, world, files, status, code):
    before = counts(world)
    assert_error(client.post(URL, headers=auth(), files=files), status, code)
    assert counts(world) == before


# -- errors --

# A whole first file part, then a second one cut off mid-data: no closing boundary.
TRUNCATED = part("file", "a.pdf", b"abc") + part("file", "b.pdf", b"half")[:-2]

def body(*parts: bytes) -> bytes:
    return b"".join(parts) + b"--xyz--\r\n"


LONG_BOUNDARY = "b" * 257

# (request kwargs: "key" and "url" override the default key and path; status, code, details location)
ERRORS = [
    pytest.param({"content": body(part("file", "a.pdf", b"x"), part("meta", None, b"[]"), part("meta", None, b"[]")),
                  "headers": BOUNDARY}, 400, "invalid_meta", "body.meta", id="meta-array-twice"),
    pytest.param({"content": body(part("file", "a.pdf", b"x"), part("meta", None, b"[]"),
                                  part("meta", None, b'{"name": "a", "value": "b"}')),
                  "headers": BOUNDARY}, 400, "invalid_meta", "body.meta", id="meta-array-and-an-entry"),
    pytest.param({"content": body(part("file", "a.pdf", b"x"), part("meta", None, b'{"name": "a", "value": "b"}'),
                                  part("meta", None, b'"just text"')),
                  "headers": BOUNDARY}, 400, "invalid_meta", "body.meta", id="meta-entry-not-an-object"),
    pytest.param({"content": body(part("file", "a.pdf", b"x"), part("name", None, b"a"), part("name", None, b"b")),
                  "headers": BOUNDARY}, 400, "invalid_request", "body.name", id="name-twice"),
    pytest.param({"content": body(part("file", "a.pdf", b"x"), part("files", "b.pdf", b"y" * 100_000)),
                  "headers": BOUNDARY}, 400, "invalid_request", "body.files", id="big-unknown-field-is-400"),
    pytest.param({"content": body(part("file", "a.pdf", b"x"), part("meta", None, b"[" * 2000 + b"]" * 2000)),
                  "headers": BOUNDARY}, 400, "invalid_meta", "body.meta", id="meta-nested-too-deeply"),
    pytest.param({"content": body(part("file", "a.pdf", b"x"), part("meta", None, b"[" + b" " * 70_000 + b"]")),
                  "headers": BOUNDARY}, 400, "invalid_meta", "body.meta", id="meta-over-64-kib"),
    pytest.param({"content": body(part("file", "a.pdf", b"x")).replace(b"xyz", LONG_BOUNDARY.encode()),
                  "headers": {"Content-Type": f"multipart/form-data; boundary={LONG_BOUNDARY}"}},
                 400, "invalid_request", None, id="boundary-too-long"),
    pytest.param({"content": body(part("file", "a.pdf", b"x")).replace(b"form-data;", b"attachment;"),
                  "headers": BOUNDARY}, 400, "invalid_request", None, id="not-form-data"),
    pytest.param({"content": body(part("file", "a.pdf", b"x"))}, 415, "unsupported_media_type", None,
                 id="no-content-type"),
    pytest.param({"files": [PDF], "data": {"meta": "{not json"}}, 400, "invalid_meta", "body.meta", id="meta-not-json"),
    pytest.param({"content": body(part("file", "a.pdf", b"x"), part("meta", None, b"[" + b"9" * 5000 + b"]")),
                  "headers": BOUNDARY}, 400, "invalid_meta", "body.meta", id="meta-5000-digit-integer"),
    pytest.param({"files": [PDF], "data": {"meta": json.dumps({"name": "a"})}},
                 400, "invalid_meta", "body.meta", id="meta-one-entry-without-value"),
    pytest.param({"files": [PDF], "data": {"meta": json.dumps([{"name": "a"}])}},
                 400, "invalid_meta", "body.meta", id="meta-entry-without-value"),
    pytest.param({"files": [PDF], "data": {"meta": json.dumps([{"name": "a", "value": 1}])}},
                 400, "invalid_meta", "body.meta", id="meta-value-a-number"),
    pytest.param({"files": [PDF], "data": {"meta": json.dumps([{"name": "a", "value": "b", "x": "y"}])}},
                 400, "invalid_meta", "body.meta", id="meta-entry-extra-key"),
    pytest.param({"files": [PDF], "data": {"colour": "red"}}, 400, "invalid_request", "body", id="unknown-field"),
    pytest.param({"files": [PDF], "data": {"name": "n" * 256}}, 400, "invalid_request", "body.name", id="name-too-long"),
    pytest.param({"files": [("name", (None, b"only a name"))]}, 400, "invalid_request", "body.file", id="no-file"),
    pytest.param({"files": [("name", (None, b"x"))], "data": {"file": "abc"}},
                 400, "invalid_request", "body.file", id="file-part-without-filename"),
    pytest.param({"files": [PDF], "data": {"file": "abc"}}, 400, "invalid_request", "body.file",
                 id="text-file-part-among-files"),
    pytest.param({"json": {"name": "x"}}, 415, "unsupported_media_type", None, id="json-body"),
    pytest.param({"data": {"file": "abc"}}, 415, "unsupported_media_type", None, id="urlencoded-form"),
    pytest.param({"content": b"--xyz\r\n", "headers": {"Content-Type": "multipart/form-data"}},
                 400, "invalid_request", None, id="multipart-without-boundary"),
    pytest.param({"content": b"this is not multipart", "headers": BOUNDARY},
                 400, "invalid_request", "body", id="malformed-multipart"),
    pytest.param({"content": TRUNCATED, "headers": BOUNDARY}, 400, "invalid_request", "body",
                 id="truncated-multipart"),
    pytest.param({"files": [PDF], "key": "key_task_read_only"}, 403, "insufficient_scope", None, id="no-upload-scope"),
    pytest.param({"files": [PDF], "key": "key_no_project"}, 403, "project_not_granted", None,
                 id="project-not-granted"),
    pytest.param({"files": [PDF], "url": "/v2/team_654321/project/proj_654321/upload"}, 404, "team_not_found",
                 None, id="other-teams-project"),
    pytest.param({"files": [PDF], "url": f"/v2/{TEAM}/project/proj_654321/upload"}, 404, "project_not_found",
                 None, id="other-teams-project-under-own-team"),
    pytest.param({"files": [PDF], "key": "key_other_team"}, 404, "team_not_found", None,
                 id="other-teams-key"),
]


@pytest.mark.parametrize("kwargs, status, code, location", ERRORS)
def test_refused_uploads_create_nothing(client, world, kwargs, status, code, location):
    kwargs = dict(kwargs)
    headers = {**auth(kwargs.pop("key", "YOUR_API_KEY")), **kwargs.pop("headers", {})}
    before = counts(world)
    response = client.post(kwargs.pop("url", URL), headers=headers, **kwargs)
    assert_error(response, status, code, location)
    assert counts(world) == before


@pytest.mark.parametrize("kwargs", [
    pytest.param({"json": {"name": "x"}}, id="json-body"),
    pytest.param({"content": b"x", "headers": {"Content-Type": "text/plain"}}, id="text-body"),
])
def test_wrong_media_type_names_multipart(client, kwargs):
    kwargs = dict(kwargs)
    headers = {**auth(), **kwargs.pop("headers", {})}
    body = assert_error(client.post(URL, headers=headers, **kwargs), 415, "unsupported_media_type")
    assert "multipart/form-data" in body["error"]


@pytest.mark.parametrize("content_type", ["Multipart/Form-Data; boundary=xyz", "MULTIPART/FORM-DATA ; boundary=xyz"])
def test_media_types_are_case_insensitive(client, content_type):
    response = client.post(URL, headers={**auth(), "Content-Type": content_type},
                           content=body(part("file", "a.pdf", b"%PDF")))
    assert response.status_code == 201, response.text


@pytest.mark.parametrize("filename,content_type,expected", [
    ("noext", "application/pdf; charset=binary", "pdf"), (".pdf", "application/octet-stream", "pdf"),
    ("noext", "\u00e9/\u00e9", "bin"), ("Scan.TIFF", "image/tiff", "tiff"),
])
def test_file_type_is_a_clean_word(client, filename, content_type, expected):
    response = client.post(URL, headers=auth(), files=[("file", (filename, b"x", content_type))])
    assert response.json()["fileType"] == expected


# -- the form's own bounds: meta's entries, names and values, any field's bytes, the parts --

def entries(n: int, name: str = "n", value: str = "v") -> list[dict]:
    return [{"name": name, "value": value} for _ in range(n)]


def meta_parts(meta: list[dict]) -> bytes:
    return body(part("file", "a.pdf", b"x"), *(part("meta", None, json.dumps(e).encode()) for e in meta))


def padded_meta(size: int) -> bytes:
    """One meta part of exactly `size` bytes: JSON allows the spaces."""
    raw = json.dumps(entries(1)).encode()
    return body(part("file", "a.pdf", b"x"), part("meta", None, raw + b" " * (size - len(raw))))


# (the form, the app's limits or None for the defaults, the location of the problem or None when accepted)
FORM_BOUNDS = [
    pytest.param({"meta": entries(50)}, None, None, id="50-entries-in-one-part"),
    pytest.param({"meta": entries(51)}, None, "body.meta", id="51-entries-in-one-part"),
    pytest.param({"content": meta_parts(entries(50))}, None, None, id="50-entries-a-part-each"),
    pytest.param({"content": meta_parts(entries(51))}, None, "body.meta", id="51-entries-a-part-each"),
    pytest.param({"meta": entries(1, name="n" * 100)}, None, None, id="name-of-100"),
    pytest.param({"meta": entries(1, name="n" * 101)}, None, "body.meta[0].name", id="name-of-101"),
    pytest.param({"meta": entries(1, value="v" * 1000)}, None, None, id="value-of-1000"),
    pytest.param({"meta": [*entries(1), *entries(1, value="v" * 1001)]}, None, "body.meta[1].value",
                 id="value-of-1001"),
    pytest.param({"content": padded_meta(64 * 1024)}, None, None, id="meta-part-of-64-kib"),
    pytest.param({"content": padded_meta(64 * 1024 + 1)}, None, "body.meta", id="meta-part-over-64-kib"),
    pytest.param({"meta": entries(3)}, FormLimits(meta_entries=3), None, id="configured-3-entries"),
    pytest.param({"meta": entries(4)}, FormLimits(meta_entries=3), "body.meta", id="configured-4-entries"),
    pytest.param({"meta": entries(1, value="v" * 10)}, FormLimits(meta_value_chars=9), "body.meta[0].value",
                 id="configured-value"),
    pytest.param({"content": padded_meta(1000)}, FormLimits(field_bytes=999), "body.meta", id="configured-field"),
    pytest.param({"content": body(part("file", "a.pdf", b"x"), part("name", None, b"n" * 20))},
                 FormLimits(field_bytes=19), "body.name", id="configured-name-field"),
    pytest.param({"content": meta_parts(entries(2))}, FormLimits(parts=3), None, id="3-parts"),
    pytest.param({"content": meta_parts(entries(3))}, FormLimits(parts=3), "body", id="4-parts"),
]


@pytest.mark.parametrize("form, limits, location", FORM_BOUNDS)
def test_the_forms_bounds_pass_at_their_limit_and_refuse_past_it(store, form, limits, location):
    options = {} if store is None else {"store": store[0], "namespace": store[1]}
    with create_app(**options, **({"form_limits": limits} if limits else {})).test_client() as client:
        before = client.get(f"{BASE}/task", headers=auth(), params={"limit": 1}).json()["count"]
        if "content" in form:
            response = client.post(URL, headers={**auth(), **BOUNDARY}, content=form["content"])
        else:
            response = client.post(URL, headers=auth(), files=[PDF], data={"meta": json.dumps(form["meta"])})
        after = client.get(f"{BASE}/task", headers=auth(), params={"limit": 1}).json()["count"]
    if location is None:
        assert response.status_code == 201, response.text
        assert after == before + 1
        return
    code = "invalid_request" if location in ("body", "body.name") else "invalid_meta"
    found = assert_error(response, 400, code, location)
    assert any(str(n) in found["error"] + found["details"][0]["message"] for n in _bounds(limits)), found
    assert after == before


def _bounds(limits) -> list[int]:
    limits = limits or FormLimits()
    return [limits.meta_entries, limits.meta_name_chars, limits.meta_value_chars, limits.field_bytes, limits.parts]
