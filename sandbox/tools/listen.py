"""`task-sandbox listen`: subscribe a local receiver, print each event as it comes and forward
it, signature and all, to a URL of the developer's (as Stripe's CLI does)."""
from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx

from sandbox.tools.defaults import base_url
from sandbox.domain.events import TYPES
from sandbox.notify.hosts import HostPolicy

FORWARDED = ("content-type", "user-agent", "webhook-id", "webhook-timestamp", "webhook-signature")


def add_parser(commands) -> None:
    listen = commands.add_parser(
        "listen", help="print the sandbox's events as they are sent, and forward them to a local URL",
        description="Subscribe a receiver of this command to a project's events in a running sandbox, "
                    "print one line per event as it arrives, and forward each (body and signature "
                    "headers unchanged) to --forward-to; its answer is what the sandbox sees, so a "
                    "failing app gets the sandbox's retries. The subscription is deleted on exit "
                    "(Ctrl-C). Verify signatures in your app with the secret printed at start.",
        epilog="example: task-sandbox listen --forward-to http://localhost:3000/webhooks",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    listen.add_argument("--base-url", default=base_url(), metavar="URL",
                        help="the sandbox (default: $TASK_SANDBOX_URL, else http://127.0.0.1:4010)")
    listen.add_argument("--project", action="append", dest="projects", metavar="PROJECT_ID",
                        help="a project whose events to take; repeat for several (default: proj_123456)")
    listen.add_argument("--events", default=",".join(TYPES),
                        help="comma-separated event types (default: %(default)s)")
    listen.add_argument("--forward-to", metavar="URL", help="POST each event here too (default: only print)")
    listen.add_argument("--secret", help="whsec_... secret to sign with (default: a new one, printed)")
    listen.add_argument("--session", help="X-Sandbox-Session to listen in (default: the default session)")
    listen.add_argument("--api-key", default="YOUR_API_KEY",
                        help="a key of the session's team, which owns it (default: %(default)s)")
    listen.add_argument("--admin-token", help="X-Sandbox-Admin-Token, for a sandbox started with one")
    listen.add_argument("--port", type=int, default=0, help="local port of the receiver (default: a free one)")
    listen.add_argument("--json", action="store_true", help="print each event's whole body as one JSON line")


def run(args: argparse.Namespace) -> int:
    problem = args.forward_to and HostPolicy(["*"]).problem(args.forward_to)
    if problem:
        print(f"task-sandbox: --forward-to {problem}", file=sys.stderr)
        return 2
    headers = {"Authorization": f"Bearer {args.api_key}",
               **({"X-Sandbox-Session": args.session} if args.session else {}),
               **({"X-Sandbox-Admin-Token": args.admin_token} if args.admin_token else {})}
    control = httpx.Client(base_url=args.base_url.rstrip("/") + "/_sandbox", headers=headers, timeout=10)
    forward = httpx.Client(timeout=10) if args.forward_to else None
    server = ThreadingHTTPServer(("127.0.0.1", args.port), _handler(args, forward))
    server.daemon_threads = True
    url = f"http://127.0.0.1:{server.server_address[1]}/events"
    made = []
    try:
        for project in args.projects or ["proj_123456"]:
            body = {"project_id": project, "url": url, "events": [e.strip() for e in args.events.split(",") if e.strip()],
                    "description": "task-sandbox listen", **({"secret": args.secret} if args.secret else {})}
            answer = control.post("/subscriptions", json=body)
            if answer.status_code != 201:
                print(f"task-sandbox: the sandbox refused to subscribe {project}: {answer.status_code} "
                      f"{_error(answer)}", file=sys.stderr)
                return 2
            made.append(answer.json()["payload"])
            body["secret"] = args.secret = made[-1]["secret"]  # one secret for every project
    except httpx.HTTPError as exc:
        print(f"task-sandbox: no sandbox answers at {args.base_url} ({exc}); start one with "
              "`task-sandbox serve`, or give --base-url", file=sys.stderr)
        return 2
    finally:
        if len(made) < len(args.projects or ["proj_123456"]):
            _unsubscribe(control, made)
    print(f"Ready: events of {', '.join(s['project_id'] for s in made)} to {url}"
          + (f", forwarded to {args.forward_to}" if args.forward_to else "")
          + f". Signing secret: {args.secret}  (Ctrl-C to stop)", flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        stop.wait()
    except KeyboardInterrupt:
        pass
    server.shutdown()
    _unsubscribe(control, made)
    return 0


def _unsubscribe(control: httpx.Client, made: list[dict]) -> None:
    for sub in made:
        try:
            control.delete(f"/subscriptions/{sub['id']}")
        except httpx.HTTPError:
            pass  # the sandbox is gone: so is the subscription, or it fails its deliveries


def _error(answer: httpx.Response) -> str:
    try:
        return answer.json()["error"]
    except (ValueError, KeyError, TypeError):
        return answer.text[:200]


def _handler(args: argparse.Namespace, forward: httpx.Client | None):
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            raw = self.rfile.read(int(self.headers.get("content-length", 0)))
            status, note = 200, ""
            if forward is not None:
                headers = {k: v for k, v in self.headers.items() if k.lower() in FORWARDED}
                try:
                    status = forward.post(args.forward_to, content=raw, headers=headers).status_code
                    note = f"  -> {status} from {args.forward_to}"
                except httpx.HTTPError as exc:
                    status, note = 502, f"  -> not forwarded: {exc or type(exc).__name__}"
            print(_line(raw, args.json) + note, flush=True)
            self.send_response(status)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, *a):
            pass
    return Handler


def _line(raw: bytes, whole: bool) -> str:
    try:
        event = json.loads(raw)
        if whole:
            return json.dumps(event, separators=(",", ":"))
        upload = event.get("upload") or {}
        return f"{event.get('id')}  {event.get('event')}  {event.get('project_id')}  {upload.get('id')} ({upload.get('status')})"
    except (ValueError, AttributeError):
        return f"(not JSON: {raw[:80]!r})"
