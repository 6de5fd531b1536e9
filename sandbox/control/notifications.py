"""Thin handlers of the control plane's notifications: subscriptions, events, deliveries, inboxes."""
from __future__ import annotations

import base64
import secrets
import time

from connexion import context

from sandbox.http.context import context_of

from sandbox import errors
from sandbox.domain import outbox
from sandbox.domain.clock import format_timestamp
from sandbox.domain.events import secret_problem
from sandbox.notify.hosts import HostPolicy

# What an inbox keeps of a request's headers: the ones a receiver verifies, and what sent it.
INBOX_HEADERS = ("webhook-id", "webhook-timestamp", "webhook-signature", "content-type", "user-agent")


def new_secret() -> str:
    """Random, not derived from the seed: a secret others could compute would sign nothing."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()


class NotificationHandlers:
    sessions = None  # set by ControlHandlers
    hosts: HostPolicy = HostPolicy()

    @property
    def session(self):
        return context_of(context.scope).session

    def _check(self, body: dict) -> None:
        for field, problem in (("url", body.get("url") and self.hosts.problem(body["url"])),
                               ("secret", body.get("secret") and secret_problem(body["secret"]))):
            if problem:
                raise errors.InvalidSubscription(f"The subscription's {field} {problem}.",
                                                 [{"location": f"body.{field}", "message": problem}])

    async def list_subscriptions(self, project_id=None, **_):
        ctx = context_of(context.scope)
        team = ctx.tenant if ctx.hosted and not ctx.admin else None
        return {"payload": await self.session.run(outbox.subscriptions, project_id, team)}, 200

    async def create_subscription(self, body, **_):
        self._check(body)
        sub = await self.session.run(
            outbox.subscribe, body["project_id"], body["url"], body.get("secret") or new_secret(),
            body.get("events"), body.get("enabled", True), body.get("description", ""))
        return {"payload": sub}, 201

    async def get_subscription(self, subscription_id, **_):
        return {"payload": (await self.session.run(outbox.subscription, subscription_id)).public()}, 200

    async def update_subscription(self, subscription_id, body, **_):
        self._check(body)
        return {"payload": await self.session.run(outbox.update, subscription_id, **body)}, 200

    async def delete_subscription(self, subscription_id, **_):
        await self.session.run(outbox.unsubscribe, subscription_id)
        return None, 204

    async def list_events(self, type=None, upload_id=None, **_):  # noqa: A002 - the query's name
        found = await self.session.run(outbox.event_list, type, upload_id)
        return {"count": len(found), "payload": found}, 200

    async def trigger_event(self, body, **_):
        return {"payload": await self.session.run(outbox.trigger, body["upload_id"], body["type"])}, 201

    async def list_deliveries(self, subscription_id=None, event_id=None, status=None, **_):
        found = await self.session.run(outbox.deliveries, subscription_id, event_id, status)
        return {"count": len(found), "payload": found}, 200

    async def get_delivery(self, delivery_id, **_):
        return {"payload": (await self.session.run(outbox.delivery, delivery_id)).public()}, 200

    async def resend_delivery(self, delivery_id, **_):
        return {"payload": await self.session.run(outbox.resend, delivery_id, time.time())}, 202

    async def receive_in_inbox(self, name, body=None, **_):
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in context.scope["headers"]
                   if k.decode("latin-1") in INBOX_HEADERS}
        await self.sessions.store.inbox_append(name, {"received_at": format_timestamp(time.time()),
                                                     "headers": headers, "body": body})
        return None, 204

    @staticmethod
    def _own_inbox(name: str) -> None:
        """Anyone may post to an inbox; on a hosted sandbox a team reads and clears only those named
        after it, so one team never reads what another's subscriptions received."""
        ctx = context_of(context.scope)
        team = ctx.tenant
        if ctx.hosted and not ctx.admin and not (name == team or name.startswith((f"{team}-", f"{team}."))):
            raise errors.ControlForbidden(
                f"A team reads only its own inboxes, named {team} or {team}-<anything>; this one is not.")

    async def read_inbox(self, name, **_):
        self._own_inbox(name)
        found = await self.sessions.store.inbox_read(name)
        return {"count": len(found), "payload": found}, 200

    async def clear_inbox(self, name, **_):
        self._own_inbox(name)
        await self.sessions.store.inbox_clear(name)
        return None, 204
