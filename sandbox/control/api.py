"""Thin handlers of the control plane, one per operationId of sandbox/control/openapi.yaml."""
from __future__ import annotations

from datetime import datetime, timezone

from connexion import context

from sandbox.http.context import context_of

from sandbox import errors, fixtures
from sandbox.control import faults, journal, report
from sandbox.control.journal import decode
from sandbox.control.live import Live, Streams
from sandbox.control.notifications import NotificationHandlers
from sandbox.control.sessions import Session, Sessions
from sandbox.control.timeline import TimelineHandlers
from sandbox.domain import folders, pipeline, world
from sandbox.domain.clock import format_timestamp, parse_timestamp
from sandbox.spec import Contract
from sandbox.store.base import split_sid


async def clock_view(session: Session) -> dict:
    next_due = await session.run(pipeline.upcoming)  # applies what fell due first, as any read does
    state = session.state
    return {"now": format_timestamp(state.clock.now()), "frozen": state.clock.frozen,
            "started_at": format_timestamp(state.started_at), "next_due": next_due}


async def session_view(session: Session) -> dict:
    clock = await clock_view(session)
    state = session.state
    return {"name": Sessions.shown(session.sid, context_of(context.scope).everyone), "scenario": state.scenario, "clock": clock,
            "tasks": state.count("tasks"), "journal_entries": await session.store.journal_length(session.sid),
            "faults": len(state.faults)}


class ControlHandlers(NotificationHandlers, TimelineHandlers):
    def __init__(self, sessions: Sessions, contract: Contract, hosts=None):
        self.sessions = sessions
        self.contract = contract
        self.streams = Streams()
        if hosts is not None:
            self.hosts = hosts

    @property
    def session(self) -> Session:
        return context_of(context.scope).session

    async def get_session(self, **_):
        return {"payload": await session_view(self.session)}, 200

    async def delete_session(self, **_):
        await self.sessions.delete(self.session)
        return None, 204

    async def watch_session(self, **_):
        return Live(self.session, self.streams)

    async def list_sessions(self, **_):
        ctx = context_of(context.scope)
        names = [Sessions.shown(sid, ctx.everyone) for sid in await self.sessions.sids(ctx.tenants(self.sessions.teams))]
        return {"payload": names, "max_sessions": self.sessions.max_sessions}, 200

    async def reset_session(self, body=None, **_):
        scenario = (body or {}).get("scenario")
        session = await self.sessions.reset(self.session, scenario)
        await session.note("resetSession", {"scenario": session.state.scenario})  # the first entry after
        return {"payload": await session_view(session)}, 200

    async def list_scenarios(self, **_):
        return {"payload": self.sessions.scenarios.names()}, 200

    async def load_fixtures(self, body, **_):
        if context_of(context.scope).hosted and isinstance(body, dict) and body.get("keys"):
            raise errors.InvalidFixture(
                "API keys are the server's on a sandbox started with an admin token: a request's team comes "
                "from its key before any session is opened. Start the sandbox with --fixtures holding them.",
                [{"location": "body.keys", "message": "not loadable into a session here"}])
        document = self.contract.document
        added = await self.session.run(world.load, lambda tx: fixtures.load_into(tx, body, document))
        return {"payload": added}, 201

    async def get_clock(self, **_):
        return {"payload": await clock_view(self.session)}, 200

    async def set_clock(self, body, **_):
        session = self.session
        try:
            await session.run(
                world.move_clock, to=parse_timestamp(body["now"]) if "now" in body else None,
                advance=body.get("advance_seconds"), freeze=body.get("freeze"))
        except ValueError as exc:
            raise errors.BadRequest(f"The clock cannot do that: {exc}.",
                                    [{"location": "body", "message": str(exc)}]) from None
        return {"payload": await clock_view(session)}, 200

    async def get_world(self, **_):
        ctx = context_of(context.scope)
        return {"payload": await self.session.run(world.describe, ctx.tenant if ctx.hosted and not ctx.admin else None)}, 200

    async def list_folders(self, project_id=None, **_):
        return {"payload": await self.session.run(folders.listed, project_id)}, 200

    async def force_task_status(self, task_id, body, **_):
        return {"payload": await self.session.run(world.force, task_id, body["status"], body.get("step_type"))}, 200

    async def list_faults(self, **_):
        return {"payload": [r.public() for r in self.session.state.faults]}, 200

    async def add_fault(self, body, **_):
        operation, status = body["operation"], body.get("status")
        if operation not in self.contract.statuses:
            raise errors.InvalidFault(f"No public operation {operation!r}.", [
                {"location": "body.operation", "message": f"one of {', '.join(sorted(self.contract.statuses))}"}])
        allowed = self.contract.injectable(operation)
        if status is not None and status not in allowed:
            raise errors.InvalidFault(
                f"{operation} does not declare {status}; injected faults stay inside the contract.",
                [{"location": "body.status", "message": f"one of {', '.join(map(str, sorted(allowed)))}"}])
        if body.get("task_id") is not None and operation not in self.contract.task_operations:
            raise errors.InvalidFault(f"{operation} names no task; a task_id would never match.",
                                      [{"location": "body.task_id", "message": "the operation has no task"}])
        if status is None and not body.get("latency_ms"):
            raise errors.InvalidFault("A fault injects a status, a latency, or both.",
                                      [{"location": "body", "message": "give status or latency_ms"}])
        rule = await self.session.run(
            faults.add, operation=operation, task_id=body.get("task_id"), status=status,
            latency_ms=body.get("latency_ms", 0), times=body.get("times"),
            probability=body.get("probability", 1.0), seed=body.get("seed", 0))
        return {"payload": rule.public()}, 201

    async def clear_faults(self, **_):
        await self.session.run(faults.clear)
        return None, 204

    async def remove_fault(self, fault_id, **_):
        if not await self.session.run(faults.remove, fault_id):
            raise errors.FaultNotFound(f"No fault rule {fault_id} in this session.")
        return None, 204

    async def get_journal(self, operation=None, task_id=None, status=None, since=None, limit=None, violations=False, **_):
        if since is not None:
            try:
                moment = datetime.fromisoformat(since.replace("Z", "+00:00"))
                if moment.tzinfo is None:  # the session's clock is UTC, so is a bare time
                    moment = moment.replace(tzinfo=timezone.utc)
                since = format_timestamp(moment.timestamp())
            except (ValueError, OverflowError):
                raise errors.BadRequest("since must look like 2025-03-01T12:00:00Z.",
                                        [{"location": "query.since", "message": "not a timestamp"}]) from None
        found = journal.select(await self.session.store.journal_query(self.session.sid), operation, task_id, status,
                               since, None if violations else limit)
        if violations:
            found = [e for e in found if report.broke_the_contract(e)]
            found = found[-limit:] if limit else found
        entries = [{**e, "request": {**e["request"], "body": decode(e["request"]["body"])},
                    "response": {"body": decode(e["response"]["body"])}} for e in found]
        return {"count": len(entries), "payload": entries}, 200

    async def clear_journal(self, **_):
        await self.session.store.journal_clear(self.session.sid)
        await self.session.note("clearJournal", {})
        return None, 204

    async def get_report(self, session=None, prefix=None, limit=None, **_):
        if session is not None and prefix is not None:
            raise errors.BadRequest("Give session or prefix, not both.",
                                    [{"location": "query", "message": "session and prefix exclude each other"}])
        ctx = context_of(context.scope)
        store = self.sessions.store
        server_wide = ctx.admin and session is None and prefix is None and ctx.everyone and not ctx.named
        if session is None and prefix is None and not server_wide:
            sids = [(await self.sessions.open(ctx.tenant, ctx.name)).sid]
        else:
            def wanted(sid: str) -> bool:
                name = split_sid(sid)[1]
                if session is not None:  # the admin's NAME@TEAM is one session; a bare NAME, that name in each team
                    return session in (sid, name)
                return name.startswith(prefix or "")
            sids = [sid for sid in await self.sessions.sids(ctx.tenants(self.sessions.teams)) if wanted(sid)]
        tallies = {Sessions.shown(sid, ctx.everyone): found for sid in sids
                   if (found := await store.journal_tally(sid)) is not None}
        if not tallies and not server_wide:
            wanted = f"named {session!r}" if session else f"whose name starts with {prefix!r}"
            raise errors.SessionNotFound(f"No session {wanted}: it was never used, or was deleted or evicted.")
        payload = report.build(self.contract, tallies, limit)
        if ctx.admin and session is None and prefix is None:  # refused before any session: the server's, never a team's
            payload["unauthenticated"] = report.unauthenticated(await store.unauthenticated())
        return {"payload": payload}, 200
