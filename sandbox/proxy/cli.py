"""`task-sandbox proxy`: the validating proxy's command line."""
from __future__ import annotations

import argparse
import logging
import sys

from sandbox.http import secrets
from sandbox.tools import cli

EPILOG = """\
examples:
  task-sandbox proxy --upstream https://api.example.com
  task-sandbox proxy --upstream https://api.example.com --port 4011 --strict
  task-sandbox proxy --upstream https://api.example.com --record recorded/

Every /v2/ request is forwarded unchanged but for X-Sandbox-Session, which names the session
whose journal and report it goes to and stays with the proxy. The report:
  task-sandbox report --base-url http://127.0.0.1:4011 --session ci-42"""


def _url(text: str) -> str:
    from sandbox.proxy.upstream import check_url

    try:
        return check_url(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_parser(commands) -> None:
    proxy = commands.add_parser(
        "proxy", help="forward to the real API, checking both sides against the contract",
        description="A validating proxy in front of the real API: each request is checked against "
                    "openapi.yaml before it leaves and each answer when it comes back; both verdicts "
                    "are journalled, and the client's contract report (/_sandbox/report, `task-sandbox "
                    "report`) says which side broke the contract: the client (its request) or the "
                    "upstream (its answer). Requests and answers stream both ways, uploads included.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    proxy.add_argument("--upstream", required=True, type=_url, metavar="URL",
                       help="the API's base URL, without /v2 (http:// or https://)")
    proxy.add_argument("--host", default="127.0.0.1", help="interface to bind (default: %(default)s)")
    proxy.add_argument("--port", type=cli._port, default=4011, help="port to listen on (default: %(default)s)")
    proxy.add_argument("--strict", action="store_true",
                       help="answer a request that breaks the contract with the sandbox's own error (a 400 "
                            "for a bad body or parameter) instead of forwarding it; an upload's form is checked "
                            "as it streams, and one that breaks the contract is cut off before the upstream "
                            "gets all of it (default: forward it, and report it)")
    proxy.add_argument("--upstream-timeout", metavar="SECONDS", type=cli._seconds, default=30.0,
                       help="how long the upstream may take to answer, or go without sending a byte; then "
                            "504 upstream_timeout (default: %(default)s)")
    proxy.add_argument("--record", metavar="DIR", default=None,
                       help="write what the upstream answered as fixture files into DIR (see docs/recording.md); "
                            "`task-sandbox serve --fixtures DIR` then serves them")
    token = proxy.add_mutually_exclusive_group()
    token.add_argument("--admin-token-file", metavar="FILE", default=None,
                       help="require X-Sandbox-Admin-Token on /_sandbox (as serve does); needed to bind a "
                            f"non-loopback --host; or set ${secrets.ENVIRONMENT}")
    token.add_argument("--admin-token", metavar="TOKEN", default=None, help=argparse.SUPPRESS)
    proxy.add_argument("--allowed-host", metavar="NAME", action="append", dest="allowed_hosts",
                       help="also answer requests whose Host header names NAME (as serve does)")
    proxy.add_argument("--max-sessions", type=cli._positive, default=100,
                       help="sessions (journals) kept, least recently used dropped first (default: %(default)s)")
    proxy.add_argument("--journal-size", type=cli._positive, default=1000,
                       help="journal entries kept per session (default: %(default)s)")
    proxy.add_argument("--journal-bytes", metavar="BYTES", type=cli._positive, default=2 * 1024 * 1024,
                       help="bytes (as JSON) each session's journal keeps, and its violations and refusals each "
                            "again (default: %(default)s, 2 MiB)")
    proxy.add_argument("--journal-body-bytes", metavar="BYTES", type=cli._positive, default=8 * 1024,
                       help="bytes of each request and answer body a journal entry keeps (default: %(default)s)")
    proxy.add_argument("--max-header-bytes", metavar="BYTES", type=cli._header_bytes, default=65536,
                       help="largest header section of a request; past it 431 (default: %(default)s)")
    proxy.add_argument("--header-timeout", metavar="SECONDS", type=cli._seconds, default=10.0,
                       help="time until a request's headers are complete; then 408 (default: %(default)s)")
    proxy.add_argument("--body-idle-timeout", metavar="SECONDS", type=cli._seconds, default=10.0,
                       help="time a request body may go without a byte; then 408 (default: %(default)s)")
    proxy.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])


def run(args: argparse.Namespace) -> int:
    cli._quiet()
    from sandbox.http.edge import LOOPBACK_HOSTS
    from sandbox.proxy.app import create_proxy_app

    try:
        token = secrets.read(args.admin_token_file, args.admin_token)
    except secrets.TokenError as exc:
        print(f"task-sandbox: {exc}", file=sys.stderr)
        return 2
    if not cli._loopback(args.host) and not token:
        print(f"task-sandbox: refusing to proxy on {args.host} without an admin token: anyone who can reach "
              "it could read every journal through /_sandbox. Bind 127.0.0.1, or give one with "
              f"--admin-token-file FILE or ${secrets.ENVIRONMENT}.", file=sys.stderr)
        return 2
    hosts = args.allowed_hosts or []
    app = create_proxy_app(
        args.upstream, strict=args.strict, upstream_timeout=args.upstream_timeout,
        admin_token_sha256=secrets.AdminToken.of(token).sha256 if token else None,
        allowed_hosts=[*LOOPBACK_HOSTS, *hosts] if cli._loopback(args.host) else hosts or None,
        max_sessions=args.max_sessions, journal_size=args.journal_size, journal_bytes=args.journal_bytes,
        journal_body_bytes=args.journal_body_bytes, record=args.record)
    try:
        sock = cli.listen(args.host, args.port)
    except cli.StartError as exc:
        print(f"task-sandbox: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(level=args.log_level.upper())
    logging.getLogger("connexion").setLevel(max(logging.WARNING, logging.getLogger().level))
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per forwarded request: the access log has them
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    print(f"Task API proxy on http://{shown}:{port} to {args.upstream}  (report: /_sandbox/report)",
          file=sys.stderr, flush=True)
    import uvicorn

    from sandbox.http.limits import Limits

    http = Limits(args.max_header_bytes, args.header_timeout, args.body_idle_timeout).protocol()
    cli.settle_garbage()
    try:
        uvicorn.Server(uvicorn.Config(app, log_level=args.log_level, http=http, **app.server_options)).run(sockets=[sock])
    finally:
        if app.recorder is not None:
            app.recorder.close()
    return 0
