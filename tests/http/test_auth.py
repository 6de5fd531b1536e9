"""Authentication, scopes and tenancy over HTTP: the auth matrix of B3, B3a and B4."""
from __future__ import annotations

from dataclasses import dataclass

import pytest

from tests.conftest import BASE, PROJECT, TEAM, auth

OTHER_TEAM, OTHER_PROJECT = "team_654321", "proj_654321"
OTHER_BASE = f"/v2/{OTHER_TEAM}/project/{OTHER_PROJECT}"
UNKNOWN_TEAM = "team_000000"
REPORT = {"issues": [{"label": "x", "value": "y"}]}
ENVELOPE_KEYS = {"error", "code", "details"}


@dataclass(frozen=True)
class Op:
    name: str
    method: str
    path: str      # under BASE; "{id}" is the target task or upload
    target: str    # a target of team_123456/proj_123456 on which the action succeeds
    foreign: str   # the matching resource of team_654321/proj_654321
    success: int = 200
    body: dict | None = None

    def url(self, base: str = BASE, target: str | None = None) -> str:
        return base + self.path.format(id=target or self.target)


OPS = [
    Op("listTasks", "GET", "/task", "", ""),
    Op("getTask", "GET", "/task/{id}", "task_abcdef123456", "task_globex000001"),
    Op("unlockTask", "POST", "/task/{id}/unlock", "task_email000att2", "task_globex000001"),
    Op("completeTask", "POST", "/task/{id}/complete", "task_abcdef123456", "task_globex000001"),
    Op("discardTask", "POST", "/task/{id}/discard", "task_email000body", "task_globex000001"),
    Op("reportTask", "POST", "/task/{id}/report", "task_abcdef123456", "task_globex000001", 201, REPORT),
    Op("approveTask", "POST", "/task/{id}/approve", "task_abcdef123456", "task_globex000001"),
    Op("disapproveTask", "POST", "/task/{id}/disapprove", "task_abcdef123456", "task_globex000001"),
    Op("getUpload", "GET", "/upload/{id}", "upl_123456789", "upl_globex0001"),
]
TASK_OPS = [op for op in OPS if op.path.startswith("/task/")]
READS = {"listTasks", "getTask"}
UPLOAD_OPS = {"getUpload"}

ALLOWED = "allowed"
SCOPE = (403, "insufficient_scope")
NOT_GRANTED = (403, "project_not_granted")
NO_TEAM = (404, "team_not_found")


def expected(key: str, op: Op):
    """The matrix of B3a/B4: what each fixture key gets on each operation of team_123456."""
    if key == "YOUR_API_KEY":
        return ALLOWED
    if key == "key_task_read_only":
        return ALLOWED if op.name in READS else SCOPE
    if key == "key_task_edit_only":
        return SCOPE if op.name in READS | UPLOAD_OPS else ALLOWED
    if key == "key_no_project":
        return NOT_GRANTED
    if key == "key_other_team":
        return NO_TEAM
    raise AssertionError(key)


KEYS = ["YOUR_API_KEY", "key_task_read_only", "key_task_edit_only", "key_no_project", "key_other_team"]
MATRIX = [pytest.param(key, op, expected(key, op), id=f"{key}-{op.name}") for key in KEYS for op in OPS]


def call(client, op: Op, headers: dict | None = None, base: str = BASE, target: str | None = None):
    return client.request(op.method, op.url(base, target), headers=headers or {}, json=op.body)


def assert_error(response, status: int, code: str | None = None) -> dict:
    """B2: every error is {"error": str, "code": str, "details"?: list} as application/json."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert set(body) <= ENVELOPE_KEYS and {"error", "code"} <= set(body), body
    assert isinstance(body["error"], str) and body["error"]
    assert isinstance(body["code"], str) and body["code"]
    if "details" in body:
        assert isinstance(body["details"], list)
    if code is not None:
        assert body["code"] == code, body
    return body


# -- 401: missing, unknown and non-Bearer credentials (B3) --

CREDENTIALS = [
    pytest.param({}, {"missing_api_key"}, id="no-header"),
    pytest.param({"Authorization": "Bearer nope"}, {"invalid_api_key"}, id="unknown-key"),
    pytest.param({"Authorization": "Basic abc"}, {"missing_api_key", "invalid_api_key"}, id="basic"),
    pytest.param({"Authorization": "Bearer "}, {"missing_api_key", "invalid_api_key"}, id="empty-bearer"),
    pytest.param({"Authorization": "bearer nope"}, {"invalid_api_key"}, id="lowercase-scheme-unknown-key"),
    # RFC 6750: only spaces part the scheme from the key; a tab makes the header malformed
    pytest.param({"Authorization": "Bearer\tYOUR_API_KEY"}, {"invalid_api_key"}, id="tab-before-a-good-key"),
    pytest.param({"Authorization": "Bearer YOUR_API_KEY\t"}, {"invalid_api_key"}, id="tab-after-a-good-key"),
    pytest.param({"Authorization": "Bearer YOUR API KEY"}, {"invalid_api_key"}, id="spaces-inside-the-key"),
    pytest.param({"Authorization": "Token YOUR_API_KEY"}, {"missing_api_key"}, id="another-scheme"),
]


@pytest.mark.parametrize("header", ["Bearer YOUR_API_KEY", "Bearer  YOUR_API_KEY", "BEARER YOUR_API_KEY",
                                    "bearer    YOUR_API_KEY"])
def test_a_key_is_found_after_the_scheme_in_any_case_and_one_or_more_spaces(client, header):
    assert client.get(f"{BASE}/task/task_abcdef123456", headers={"Authorization": header}).status_code == 200


@pytest.mark.parametrize("security", [[{}], [{}, {"bearerAuth": []}], [{"apiKey": []}]])
def test_a_contract_asking_for_other_authentication_is_refused_not_served_as_bearer(security):
    from sandbox.spec import Contract, load_public

    document = load_public()
    with pytest.raises(ValueError, match="only a required bearerAuth"):
        Contract({**document, "security": security})


@pytest.mark.parametrize("headers, codes", CREDENTIALS)
@pytest.mark.parametrize("op", OPS, ids=lambda op: op.name)
def test_bad_credentials_are_401_with_bearer_challenge(client, op, headers, codes):
    response = call(client, op, headers)
    body = assert_error(response, 401)
    assert body["code"] in codes
    assert response.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize("op", [op for op in OPS if op.method == "POST"], ids=lambda op: op.name)
def test_refused_credentials_change_nothing(client, op):
    before = client.get(BASE + "/task", headers=auth()).json()
    assert call(client, op, {"Authorization": "Bearer nope"}).status_code == 401
    assert call(client, op, auth("key_task_read_only")).status_code == 403
    assert client.get(BASE + "/task", headers=auth()).json() == before


# -- the key matrix: scopes (B3a), project grants (B3) and teams (B4) --

@pytest.mark.parametrize("key, op, outcome", MATRIX)
def test_key_matrix(client, key, op, outcome):
    response = call(client, op, auth(key))
    if outcome == ALLOWED:
        assert response.status_code == op.success, response.text
        body = response.json()
        if op.name == "listTasks":
            assert body["count"] == len(body["payload"]) == 10
        else:
            assert body["payload"]["id"] == op.target
    else:
        status, code = outcome
        assert_error(response, status, code)
        assert "www-authenticate" not in response.headers


def test_every_scope_refusal_names_the_missing_scope(client):
    body = assert_error(call(client, OPS[1], auth("key_task_edit_only")), 403, "insufficient_scope")
    assert "task.read" in body["error"]
    body = assert_error(call(client, OPS[-1], auth("key_task_read_only")), 403, "insufficient_scope")
    assert "upload.read" in body["error"]


@pytest.mark.parametrize("op, headers, status", [
    pytest.param(OPS[0], {}, 401, id="list-no-key"),
    pytest.param(OPS[0], auth("key_task_edit_only"), 403, id="list-no-scope"),
])
def test_auth_is_checked_before_the_query(client, op, headers, status):
    # limit=0 is invalid; an unauthorised caller must not learn about validation first.
    response = client.get(op.url(), headers=headers, params={"limit": 0})
    assert_error(response, status)


# -- tenancy (B4): other teams' resources look exactly like missing ones --

@pytest.mark.parametrize("op", OPS, ids=lambda op: op.name)
def test_other_team_key_sees_team_123456_as_nonexistent(client, op):
    key = auth("key_other_team")
    existing = call(client, op, key)
    missing_team = call(client, op, key, base=f"/v2/{UNKNOWN_TEAM}/project/{PROJECT}")
    body = assert_error(existing, 404, "team_not_found")
    assert_error(missing_team, 404, "team_not_found")
    assert body == {k: v.replace(UNKNOWN_TEAM, TEAM) if isinstance(v, str) else v
                    for k, v in missing_team.json().items()}
    assert dict(existing.headers) == dict(missing_team.headers)


@pytest.mark.parametrize("op", TASK_OPS, ids=lambda op: op.name)
def test_other_team_existing_task_answers_like_an_unknown_task(client, op):
    key = auth("key_other_team")
    existing = call(client, op, key)
    unknown = call(client, op, key, target="task_doesnotexist")
    assert (existing.status_code, existing.content) == (unknown.status_code, unknown.content)


@pytest.mark.parametrize("op", OPS, ids=lambda op: op.name)
def test_own_key_sees_other_team_like_an_unknown_team(client, op):
    foreign = call(client, op, auth(), base=OTHER_BASE, target=op.foreign)
    unknown = call(client, op, auth(), base=f"/v2/{UNKNOWN_TEAM}/project/{OTHER_PROJECT}", target=op.foreign)
    body = assert_error(foreign, 404, "team_not_found")
    assert_error(unknown, 404, "team_not_found")
    assert body["error"] == unknown.json()["error"].replace(UNKNOWN_TEAM, OTHER_TEAM)
    assert set(body) == set(unknown.json())


@pytest.mark.parametrize("op", OPS, ids=lambda op: op.name)
def test_other_team_key_works_on_its_own_team(client, op):
    # Control for the tenancy tests: the 404s above are not a broken key.
    response = call(client, op, auth("key_other_team"), base=OTHER_BASE, target=op.foreign)
    if op.name == "unlockTask":  # the only Globex task is REVIEWING: a state rule, past tenancy
        assert_error(response, 400, "task_not_unlockable")
    else:
        assert response.status_code == op.success, response.text


@pytest.mark.parametrize("op", TASK_OPS, ids=lambda op: op.name)
def test_task_of_another_project_is_not_found_like_an_unknown_task(client, op):
    cross = call(client, op, auth(), target="task_contract0001")
    unknown = call(client, op, auth(), target="task_doesnotexist")
    body = assert_error(cross, 404, "task_not_found")
    assert_error(unknown, 404, "task_not_found")
    assert body["error"] == unknown.json()["error"].replace("task_doesnotexist", "task_contract0001")
    assert set(body) == set(unknown.json())


def test_action_through_the_wrong_project_changes_nothing(client):
    assert call(client, OPS[3], auth(), target="task_contract0001").status_code == 404
    own = client.get(f"/v2/{TEAM}/project/proj_234567/task/task_contract0001", headers=auth())
    assert own.status_code == 200
    assert own.json()["payload"]["status"] == "REVIEWING"
    assert own.json()["payload"]["last_opened_at"] is None


@pytest.mark.parametrize("upload_id", ["upl_contract01", "upl_globex0001", "upl_doesnotexist"])
def test_upload_outside_the_project_is_not_found(client, upload_id):
    response = client.get(f"{BASE}/upload/{upload_id}", headers=auth())
    body = assert_error(response, 404, "upload_not_found")
    assert upload_id in body["error"]


@pytest.mark.parametrize("team, project, code", [
    pytest.param(TEAM, "proj_999999", "project_not_found", id="unknown-project"),
    pytest.param(TEAM, OTHER_PROJECT, "project_not_found", id="other-teams-project-under-own-team"),
])
def test_projects_outside_the_team_are_not_found(client, team, project, code):
    response = client.get(f"/v2/{team}/project/{project}/task", headers=auth())
    assert_error(response, 404, code)
