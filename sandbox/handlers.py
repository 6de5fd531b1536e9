"""Thin handlers, one per operationId: HTTP in, one domain call, HTTP out."""
from __future__ import annotations

from connexion import context

from sandbox.http.context import context_of

from sandbox import errors
from sandbox.control.layers import FORCE_TRACKER_FAILURE
from sandbox.control.sessions import Session, Sessions
from sandbox.domain import world
from sandbox.http.multipart import CONTEXT_KEY

COMPLETE_MESSAGE = "Task processing started"


class Handlers:
    """Bound to one app's sessions, so each app (and each test) has its own state; each call is
    one unit of work on the session its X-Sandbox-Session header names (B12)."""

    def __init__(self, sessions: Sessions):
        self.sessions = sessions

    @property
    def session(self) -> Session:
        return context_of(context.scope).session

    async def list_tasks(self, team_id, project_id, token_info, limit=20, token=None,
                         upload_id=None, status=None, step_type=None):
        return await self.session.run(world.list_tasks, token_info["api_key"], team_id, project_id, limit=limit,
                                      token=token, upload_id=upload_id, status=status, step_type=step_type), 200

    async def get_task(self, team_id, project_id, task_id, token_info):
        return {"payload": await self.session.run(world.get_task, token_info["api_key"], team_id, project_id,
                                                  task_id)}, 200

    async def _act(self, action, team_id, project_id, task_id, token_info):
        return {"payload": await self.session.run(world.act, token_info["api_key"], team_id, project_id,
                                                  task_id, action)}, 200

    async def complete_task(self, team_id, project_id, task_id, token_info):
        body, status = await self._act("complete", team_id, project_id, task_id, token_info)
        return {**body, "message": COMPLETE_MESSAGE}, status

    async def discard_task(self, team_id, project_id, task_id, token_info):
        return await self._act("discard", team_id, project_id, task_id, token_info)

    async def unlock_task(self, team_id, project_id, task_id, token_info):
        return await self._act("unlock", team_id, project_id, task_id, token_info)

    async def approve_task(self, team_id, project_id, task_id, token_info):
        return await self._act("approve", team_id, project_id, task_id, token_info)

    async def disapprove_task(self, team_id, project_id, task_id, token_info):
        return await self._act("disapprove", team_id, project_id, task_id, token_info)

    async def report_task(self, team_id, project_id, task_id, token_info, body):
        forced = bool(context.scope.get("extensions", {}).get(FORCE_TRACKER_FAILURE))
        task, failures = await self.session.run(world.report, token_info["api_key"], team_id, project_id, task_id,
                                                body["issues"], body.get("message"), tracker_fails=forced)
        if failures:
            return {"payload": task, "errors": failures}, 207
        return {"payload": task}, 201

    async def create_upload(self, team_id, project_id, token_info, **_form):
        # The form was parsed while streaming (sandbox/http/multipart.py); Connexion passes no fields.
        form = context.context.get(CONTEXT_KEY)
        if form is None:  # the body bypassed the multipart validator: never guess at it
            raise errors.UnsupportedMediaType("The request body must be multipart/form-data.")
        return await self.session.run(world.create_upload, token_info["api_key"], team_id, project_id,
                                      form["files"], form["name"], form["meta"]), 201

    async def get_upload(self, team_id, project_id, upload_id, token_info):
        return {"payload": await self.session.run(world.get_upload, token_info["api_key"], team_id, project_id,
                                                  upload_id)}, 200

    async def move_upload(self, team_id, project_id, upload_id, folder_id, token_info, body=None):
        named = (body or {}).get("upload_id")
        return {"payload": await self.session.run(world.move_upload, token_info["api_key"], team_id, project_id,
                                                  upload_id, folder_id, named)}, 200
