"""Moving an upload between folders, and the filing the sandbox does by itself (B15), through HTTP."""
from __future__ import annotations

import pytest

from tests.conftest import BASE, auth

UPLOAD = "upl_123456789"          # IN_REVIEW, in Inbox (folder_123456)
INBOX, PROCESSED, BIN, FINANCE = "folder_123456", "folder_123457", "folder_123459", "folder_789012"
EMAIL = "upl_email0001"           # PROCESSING (att1 settles in 30 s), in Inbox


def move(client, upload: str = UPLOAD, folder: str = FINANCE, key: str = "YOUR_API_KEY", base: str = BASE,
         method: str = "POST", **kwargs):
    return client.request(method, f"{base}/upload/{upload}/move/{folder}", headers=auth(key), **kwargs)


def folder_of(client, upload: str) -> str:
    return client.get(f"{BASE}/upload/{upload}", headers=auth()).json()["payload"]["folder_id"]


def test_a_move_answers_the_upload_in_its_new_folder(client):
    answer = move(client)
    assert answer.status_code == 200
    payload = answer.json()["payload"]
    assert payload["folder_id"] == FINANCE and payload["id"] == UPLOAD and payload["status"] == "IN_REVIEW"
    assert folder_of(client, UPLOAD) == FINANCE


@pytest.mark.parametrize("kwargs", [{}, {"json": {"upload_id": UPLOAD}}, {"json": {}}],
                         ids=["no-body", "same-upload-id", "empty-object"])
def test_a_body_is_optional_and_may_name_the_upload(client, kwargs):
    assert move(client, **kwargs).status_code == 200


@pytest.mark.parametrize("call, status, code", [
    (dict(json={"upload_id": "upl_email0001"}), 400, "upload_id_mismatch"),
    (dict(json={"upload_id": "upl_email0001"}, folder="folder_nope"), 404, "folder_not_found"),  # 404 first
    (dict(content=b"null", headers={"Content-Type": "application/json"}), 400, "invalid_request"),
    (dict(json=[]), 400, "invalid_request"),
    (dict(content=b"x", headers={"Content-Type": "text/plain"}), 415, "unsupported_media_type"),
    (dict(json={"upload_id": UPLOAD, "folder": "x"}), 400, "invalid_request"),
    (dict(content=b"{", headers={"Content-Type": "application/json"}), 400, "invalid_json"),
    (dict(folder="folder_nope"), 404, "folder_not_found"),
    (dict(folder="folder_234567_inbox"), 404, "folder_not_found"),           # another project's folder
    (dict(upload="upl_nope"), 404, "upload_not_found"),
    (dict(upload="upl_contract01"), 404, "upload_not_found"),               # another project's upload
    (dict(base="/v2/team_654321/project/proj_654321"), 404, "team_not_found"),  # another team (B4)
    (dict(key="key_other_team", upload="upl_globex0001", base="/v2/team_654321/project/proj_654321",
          folder=BIN), 404, "folder_not_found"),                           # nor its folders
    (dict(key="key_task_read_only"), 403, "insufficient_scope"),
    (dict(key="nope"), 401, "invalid_api_key"),
    (dict(method="PUT"), 405, "method_not_allowed"),
])
def test_refusals(client, call, status, code):
    headers = call.pop("headers", None)
    answer = move(client, **call) if headers is None else client.post(
        f"{BASE}/upload/{UPLOAD}/move/{FINANCE}", headers={**auth(), **headers}, **call)
    assert answer.status_code == status, answer.text
    assert answer.json()["code"] == code
    if status == 405:
        assert answer.headers["Allow"] == "POST"
    assert folder_of(client, UPLOAD) == INBOX  # nothing moved


def advance(client, seconds: float) -> None:
    assert client.post("/_sandbox/clock", json={"advance_seconds": seconds}).status_code == 200


def finish_email_upload(client) -> None:
    advance(client, 30)
    for task in ("task_email000body", "task_email000att1"):
        assert client.post(f"{BASE}/task/{task}/complete", headers=auth()).status_code == 200
    advance(client, 30)  # all final: COMPLETED


def test_uploads_are_filed_by_status_between_inbox_and_processed(client):
    assert folder_of(client, EMAIL) == INBOX and folder_of(client, "upl_archived01") == PROCESSED
    finish_email_upload(client)
    assert folder_of(client, EMAIL) == PROCESSED
    assert client.post(f"{BASE}/task/task_email000att2/unlock", headers=auth()).status_code == 200
    assert folder_of(client, EMAIL) == INBOX  # back in review: back in Inbox


@pytest.mark.parametrize("destination", [FINANCE, INBOX, BIN])
def test_a_move_by_hand_keeps_the_upload_where_it_was_put(client, destination):
    assert move(client, upload=EMAIL, folder=destination).status_code == 200
    finish_email_upload(client)
    assert folder_of(client, EMAIL) == destination


def test_new_uploads_start_in_their_projects_inbox(client):
    created = client.post("/v2/team_123456/project/proj_234567/upload", headers=auth(),
                          files={"file": ("c.pdf", b"%PDF-1.4", "application/pdf")})
    assert created.status_code == 201
    got = client.get(f"/v2/team_123456/project/proj_234567/upload/{created.json()['id']}", headers=auth())
    assert got.json()["payload"]["folder_id"] == "folder_234567_inbox"


def test_events_carry_the_folder_the_upload_is_in(client):
    finish_email_upload(client)
    advance(client, 300)  # exported: fully processed
    found = client.get("/_sandbox/events", params={"upload_id": EMAIL}).json()["payload"]
    assert [(e["type"], e["body"]["upload"]["folder_id"]) for e in found] == [
        ("upload.in_review", INBOX), ("upload.processed", PROCESSED)]


def test_the_control_plane_lists_each_projects_folders(client):
    found = client.get("/_sandbox/folders", params={"project_id": "proj_123456"}).json()["payload"]
    assert [(f["id"], f["name"], f["role"]) for f in found] == [
        (INBOX, "Inbox", "inbox"), (PROCESSED, "Processed", "processed"), ("folder_123458", "Reported", "reported"),
        (BIN, "Bin", "bin"), (FINANCE, "Finance", "custom")]
    every = client.get("/_sandbox/folders").json()["payload"]
    assert {f["project_id"] for f in every} >= {"proj_123456", "proj_234567", "proj_654321"}


def test_a_default_folders_id_never_replaces_a_folder_that_holds_it(client):
    """A custom folder may hold the id a later project's default folder would get."""
    first = client.post("/_sandbox/fixtures", json={
        "folders": [{"id": "folder_bbb_inbox", "project_id": "proj_123456", "name": "Hijack"}]})
    assert first.status_code == 201, first.text
    later = client.post("/_sandbox/fixtures", json={
        "projects": [{"id": "proj_bbb", "team_id": "team_123456", "name": "Later"}]})
    assert later.status_code == 201, later.text
    mine = client.get("/_sandbox/folders", params={"project_id": "proj_123456"}).json()["payload"]
    assert {"id": "folder_bbb_inbox", "project_id": "proj_123456", "name": "Hijack", "role": "custom"} in mine
    theirs = client.get("/_sandbox/folders", params={"project_id": "proj_bbb"}).json()["payload"]
    assert [(f["id"], f["role"]) for f in theirs][0] == ("folder_bbb_inbox_2", "inbox")
