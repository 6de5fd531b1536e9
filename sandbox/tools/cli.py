"""The `task-sandbox` command line: `serve` runs the sandbox, `proxy` checks traffic to the real API; `check`, `verify`, `listen`, `generate` and `report` help around them."""
from __future__ import annotations

import argparse
import errno
import ipaddress
import json
import logging
import os
import re
import socket
import sys
import warnings
from pathlib import Path

from sandbox import __version__, errors
from sandbox.http import secrets
from sandbox.tools import client_report, generate
from sandbox.tools.defaults import URL_VARIABLE
from sandbox.tools import listen as listen_command
from sandbox.tools.verify import PHASES


DESCRIPTION = """\
A local, stateful sandbox of the Task Management API (v2), for contract testing.
It answers like the real API (same paths, envelope, status codes, scopes and task
lifecycle), seeded from YAML fixtures. The default API key is YOUR_API_KEY."""


def _port(text: str) -> int:
    port = int(text) if text.isdigit() else -1
    if not 0 <= port < 65536:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port (0-65535; 0 picks a free one)")
    return port


def _positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of at least 1")
    return int(text)


def _namespace(text: str) -> str:
    from sandbox.store.redis import check_namespace

    try:
        check_namespace(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 < value <= 300:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds above 0 (at most 300)")
    return value


def _header_bytes(text: str) -> int:
    if not text.isdigit() or not 1024 <= int(text) <= 16 * 1024 * 1024:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of bytes from 1024 to 16777216 (16 MiB)")
    return int(text)


def _loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="task-sandbox", description=DESCRIPTION,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    serve = commands.add_parser(
        "serve", help="run the sandbox HTTP server",
        description="Serve the Task API sandbox. Swagger UI is at /ui/, the contract at /openapi.json; "
                    "the control plane at /_sandbox/ (its Swagger UI at /_sandbox/ui/).",
        epilog="examples:\n  task-sandbox serve --port 4010 --cors-origin http://localhost:3000\n"
               "  task-sandbox serve --store redis://127.0.0.1:6379/0 --workers 2\n"
               "  task-sandbox serve --store redis+cluster://10.0.0.1:7000,10.0.0.2:7000 --namespace ci",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    serve.add_argument("--host", default="127.0.0.1", help="interface to bind (default: %(default)s)")
    serve.add_argument("--port", type=_port, default=4010, help="port to listen on (default: %(default)s)")
    serve.add_argument("--fixtures", metavar="DIR", action="append", default=None,
                       help="folder of fixture YAML files (default: the shipped ones); repeat to layer folders, "
                            "a later one adding files or replacing same-named ones; 'shipped' names the "
                            "packaged fixtures (--fixtures shipped --fixtures mine)")
    serve.add_argument("--cors-origin", metavar="ORIGIN", action="append", dest="cors_origins",
                       help="allow browser calls from this origin only; repeat for several "
                            "(default: any origin)")
    serve.add_argument("--seed", type=int, default=0, help="seed for generated ids (default: %(default)s)")
    token = serve.add_mutually_exclusive_group()
    token.add_argument("--admin-token-file", metavar="FILE", default=None,
                       help="require X-Sandbox-Admin-Token: <the file's first line> on every /_sandbox call; "
                            f"or set ${secrets.ENVIRONMENT}. Needed to bind a non-loopback --host "
                            "(default: no token, control plane on loopback only)")
    token.add_argument("--admin-token", metavar="TOKEN", default=None,
                       help="the same, with the token on the command line, where `ps` shows it: prefer "
                            f"--admin-token-file or ${secrets.ENVIRONMENT}")
    serve.add_argument("--control-cors-origin", metavar="ORIGIN", action="append", dest="control_cors_origins",
                       help="let pages of this origin call the control plane /_sandbox from a browser; repeat "
                            "for several (default: none, the dashboard at /_sandbox/ needs none)")
    serve.add_argument("--allowed-host", metavar="NAME", action="append", dest="allowed_hosts",
                       help="also answer requests whose Host header names NAME (a name, *.suffix, or an IP "
                            "address or network); repeat for several (default: on a loopback --host, only "
                            "localhost, *.localhost, 127.0.0.0/8 and ::1; on another, any Host)")
    serve.add_argument("--max-sessions", type=_positive, default=100,
                       help="sessions kept, least recently used evicted first (default: %(default)s)")
    serve.add_argument("--journal-size", type=_positive, default=1000,
                       help="journal entries kept per session (default: %(default)s)")
    serve.add_argument("--session-records", metavar="N", type=_positive, default=10_000,
                       help="records a session holds of its own (the tasks, uploads, subscriptions, events and "
                            "deliveries it made or changed); past it a request that would add one is a 400 "
                            "session_full (default: %(default)s)")
    serve.add_argument("--journal-bytes", metavar="BYTES", type=_positive, default=2 * 1024 * 1024,
                       help="bytes (as JSON) each session's journal keeps, and its violations and refusals "
                            "each again, the oldest entries dropped first; the report's counts stay whole "
                            "(default: %(default)s, 2 MiB)")
    serve.add_argument("--journal-body-bytes", metavar="BYTES", type=_positive, default=8 * 1024,
                       help="bytes of each request and response body a journal entry keeps; a longer one "
                            "is cut and says how many bytes were cut (default: %(default)s, 8 KiB)")
    serve.add_argument("--inbox-bytes", metavar="BYTES", type=_positive, default=32 * 1024 * 1024,
                       help="bytes all built-in inboxes (/_sandbox/inbox/NAME) keep together, the oldest "
                            "entries dropped first (default: %(default)s, 32 MiB)")
    serve.add_argument("--store", metavar="URL", default="memory",
                       help="where sessions live: memory (this process, the default), redis://host:port/db "
                            "(rediss:// for TLS, redis://user:password@host...), which several workers and "
                            "replicas share as one sandbox, or a Redis Cluster: redis+cluster://host:port"
                            "[,host:port...] (rediss+cluster:// for TLS), any of its nodes, the rest are found")
    serve.add_argument("--workers", type=_positive, default=1,
                       help="worker processes on this port; more than 1 needs --store redis://... "
                            "(default: %(default)s)")
    serve.add_argument("--session-idle", metavar="SECONDS", type=_positive, default=86400,
                       help="a session unused this long starts afresh; the default session never "
                            "does (default: %(default)s, a day)")
    serve.add_argument("--namespace", type=_namespace, default="task-sandbox",
                       help="prefix of the Redis keys, so several sandboxes can share one Redis; no { or } "
                            "(default: %(default)s)")
    serve.add_argument("--webhook-allow-host", metavar="HOST", action="append", dest="webhook_hosts",
                       help="let subscriptions point at HOST besides loopback; repeat for several, '*' for "
                            "any (default: loopback only)")
    serve.add_argument("--webhook-timeout", metavar="SECONDS", type=_seconds, default=5.0,
                       help="how long a notification waits for its receiver's answer (default: %(default)s)")
    serve.add_argument("--max-header-bytes", metavar="BYTES", type=_header_bytes, default=65536,
                       help="largest header section (request line and headers) of a request; a larger one "
                            "is answered 431 and its connection closed (default: %(default)s)")
    serve.add_argument("--header-timeout", metavar="SECONDS", type=_seconds, default=10.0,
                       help="time from a request's first byte until its headers are complete; then 408 "
                            "and the connection is closed (default: %(default)s)")
    serve.add_argument("--body-idle-timeout", metavar="SECONDS", type=_seconds, default=10.0,
                       help="time a request body may go without a byte while it is being received; then "
                            "408 and the connection is closed (default: %(default)s)")
    serve.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"],
                       help="server log level (default: %(default)s)")
    check = commands.add_parser(
        "check", help="validate the specs, their examples and the fixtures, offline",
        description="Validate openapi.yaml, the control plane's spec, every example in both against "
                    "its schema, and every fixture file and scenario. Prints each problem with its "
                    "file and location. Exit status: 0 clean, 1 problems found. Fast enough for a "
                    "pre-commit hook.")
    check.add_argument("--spec", type=Path, help="the public contract (default: the shipped openapi.yaml)")
    check.add_argument("--control-spec", type=Path, help="the control plane's spec (default: the shipped one)")
    check.add_argument("--fixtures", metavar="DIR", action="append",
                       help="fixtures to check (default: the shipped ones); repeat to layer folders, as serve does")
    verify = commands.add_parser(
        "verify", help="run the contract checks against any running server",
        description="Run schemathesis's contract checks (every default check, positive and negative "
                    "data, examples, coverage, fuzzing and stateful phases) against a running server: "
                    "this sandbox, or a real deployment of the API. Every violation is printed with "
                    "its operation, request, response, check and a curl command that reproduces it. "
                    "Exit status: 0 clean, 1 violations, 2 the run failed.",
        epilog="example: task-sandbox verify --base-url http://127.0.0.1:4010 --junit-xml report.xml")
    verify.add_argument("--base-url", required=not os.environ.get(URL_VARIABLE), default=os.environ.get(URL_VARIABLE),
                        metavar="URL", help="the server to check (default: $TASK_SANDBOX_URL)")
    verify.add_argument("--api-key", default="YOUR_API_KEY", help="bearer key to send (default: %(default)s)")
    verify.add_argument("--junit-xml", metavar="FILE", help="also write a JUnit XML report for CI")
    verify.add_argument("--json", metavar="FILE", dest="json_path",
                        help="also write a JSON summary: verdict, exit status, session, and each case's failures")
    verify.add_argument("--phases", default=",".join(PHASES),
                        help="comma-separated phases to run (default: %(default)s)")
    verify.add_argument("--max-examples", type=_positive, help="cases per operation (default: from the config)")
    verify.add_argument("--max-time", type=_positive, metavar="SECONDS", help="time budget of the whole run")
    verify.add_argument("--session", help="X-Sandbox-Session to send (against a sandbox)")
    listen_command.add_parser(commands)
    generate.add_parser(commands)
    client_report.add_parser(commands)
    from sandbox.proxy import cli as proxy_cli  # here: it builds on this module's helpers

    proxy_cli.add_parser(commands)
    parser.commands = commands.choices  # name -> its parser, for errors in its own usage
    return parser


def _quiet() -> None:
    # connexion 3.3 warns about starlette's test client on import, a warning for its users, not a server's: noise here
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
    warnings.filterwarnings("ignore", category=DeprecationWarning)


def warn_public_keys(keys: dict) -> None:
    """A hosted sandbox holds teams apart by their keys: the shipped fixtures' keys are printed in
    the README, so with them anyone can act as those teams."""
    from sandbox import spec
    from sandbox.control.scenarios import Scenarios

    shipped = Scenarios(None, spec.load_public()).seed(None).tables["keys"]
    public = sorted(set(keys) & set(shipped))
    if public:
        print(f"task-sandbox: warning: hosting with the shipped fixtures' API keys ({', '.join(public)}), which "
              "the README publishes: anyone can act as their teams. Serve --fixtures DIR with secret keys for "
              "each team.", file=sys.stderr, flush=True)


def steady_memory() -> None:
    """Large buffers (inbox entries, journal bodies, request bodies) go to mmap, which is returned to
    the system when freed, instead of glibc's heap, whose holes are not: with the heap, a full inbox
    replaced over and over crept to 5 times its bytes in resident memory, with mmap it stays near
    1.2 times (bench/bounded.py). Only glibc has mallopt; elsewhere this does nothing."""
    import ctypes

    try:
        ctypes.CDLL(None).mallopt(-3, 32 * 1024)  # M_MMAP_THRESHOLD: fixed, so glibc no longer raises it
    except (OSError, AttributeError):
        pass


def serve(args: argparse.Namespace) -> int:
    _quiet()
    steady_memory()
    from sandbox.app import create_app  # deferred: `--help` stays fast

    try:
        args.token = secrets.read(args.admin_token_file, args.admin_token)
    except secrets.TokenError as exc:
        print(f"task-sandbox: {exc}", file=sys.stderr)
        return 2
    if not _loopback(args.host) and not args.token:
        print(f"task-sandbox: refusing to serve on {args.host} without an admin token: anyone who can "
              "reach it could reset sessions and inject faults through /_sandbox. Bind 127.0.0.1, or "
              f"give one with --admin-token-file FILE or ${secrets.ENVIRONMENT}.", file=sys.stderr)
        return 2
    options = app_options(args)
    try:
        if args.workers > 1 and not args.store.startswith(("redis://", "rediss://", "unix://", "redis+cluster://",
                                                             "rediss+cluster://")):
            raise StartError(f"--workers {args.workers} needs a shared store: add --store redis://host:port/db "
                             "(each worker would otherwise have sessions of its own)")
        app = create_app(**options)
        if options.get("admin_token_sha256"):
            warn_public_keys(app.sessions.keys)
        if app.store.kind == "redis":
            reach(args.store)
        sock = listen(args.host, args.port)
    except (errors.FixtureError, StartError) as exc:
        print(f"task-sandbox: {exc}", file=sys.stderr)
        return 2
    except ValueError as exc:  # a store URL it cannot use
        print(f"task-sandbox: --store: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(level=args.log_level.upper())
    # Connexion logs every refused request (each 401, 404) at INFO; the access log has them.
    logging.getLogger("connexion").setLevel(max(logging.WARNING, logging.getLogger().level))
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    print(f"Task API sandbox on http://{shown}:{port}  (Swagger UI: /ui/, key: YOUR_API_KEY)",
          file=sys.stderr, flush=True)
    import uvicorn

    from sandbox.http.limits import Limits

    http = Limits(args.max_header_bytes, args.header_timeout, args.body_idle_timeout).protocol()
    if args.workers == 1:
        settle_garbage()
        uvicorn.Server(uvicorn.Config(app, log_level=args.log_level, http=http)).run(sockets=[sock])
        return 0
    from uvicorn.supervisors import Multiprocess

    # Each worker builds its app from the same options (spawned processes share no objects).
    os.environ[WORKER_OPTIONS] = json.dumps(options)
    config = uvicorn.Config("sandbox.tools.cli:worker_app", factory=True, workers=args.workers, log_level=args.log_level,
                            http=http)
    Multiprocess(config, sockets=[sock]).run()
    return 0


WORKER_OPTIONS = "TASK_SANDBOX_WORKER_OPTIONS"


def app_options(args: argparse.Namespace) -> dict:
    """create_app's keywords, as JSON for workers: the admin token only as its SHA-256 digest."""
    from sandbox.http.edge import LOOPBACK_HOSTS

    token = secrets.AdminToken.of(getattr(args, "token", None) or args.admin_token)
    hosts = args.allowed_hosts or []
    return dict(fixtures_dir=args.fixtures, seed=args.seed, cors_origins=args.cors_origins or ["*"],
                admin_token_sha256=token.sha256 if token else None, max_sessions=args.max_sessions,
                journal_size=args.journal_size, idle_seconds=args.session_idle, store=args.store,
                namespace=args.namespace, webhook_hosts=args.webhook_hosts or [],
                webhook_timeout=args.webhook_timeout, control_cors_origins=args.control_cors_origins or [],
                allowed_hosts=[*LOOPBACK_HOSTS, *hosts] if _loopback(args.host) else hosts or None,
                inbox_bytes=args.inbox_bytes, journal_bytes=args.journal_bytes,
                journal_body_bytes=args.journal_body_bytes, session_records=args.session_records)


def worker_app():
    """The app of one worker of `serve --workers N`."""
    _quiet()
    steady_memory()
    from sandbox.app import create_app

    app = create_app(**json.loads(os.environ[WORKER_OPTIONS]))
    settle_garbage()
    return app


GC_YOUNG = 5_000  # objects made, net of those freed, between young collections (CPython's default: 700)


def settle_garbage() -> None:
    """What start-up made (the contracts, Connexion's validators, the seeds: 100,000 tasks are
    millions of objects) lives as long as the process: moved out of the cyclic garbage
    collector's generations, no full collection walks it again. A full collection comes about
    each time the objects that survived grow by a quarter, and walks all of them, so without
    this a big world makes every request pay for it (bench/README.md, table 5)."""
    import gc

    gc.collect()
    gc.freeze()
    # Young collections come every GC_YOUNG objects made (net of those freed) rather than
    # CPython's 700. Measured with completeTask in held sessions at 32 connections (bench/cpu.py):
    # at 700 a Redis worker, whose requests hold their objects while they wait for Redis,
    # collected every 5 requests and spent 29 µs of CPU a request in the collector; at 5,000,
    # 10 µs, with longer pauses (about 1.6 ms a young collection and 15 ms a middle one,
    # against 0.15 and 0.5 ms). The memory store spent 10-12 µs either way; the proxy, which
    # calls this too, was not measured. The full
    # collection, which walks every session held (a pause of about half a second at 60,000
    # sessions), comes after 1,000 collections of the middle generation instead of 10.
    gc.set_threshold(GC_YOUNG, 10, 1000)


def reach(url: str) -> None:
    """Fail start-up in one line when the Redis store does not answer."""
    import redis

    try:
        if "+cluster://" in url:
            from redis.cluster import ClusterNode, RedisCluster

            from sandbox.store.cluster import parse

            options = parse(url)
            nodes = [ClusterNode(host, port) for host, port in options.pop("startup_nodes")]
            RedisCluster(startup_nodes=nodes, socket_connect_timeout=2, socket_timeout=2, **options).ping()
        else:
            redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2).ping()
    except (redis.RedisError, redis.exceptions.RedisClusterException, OSError, ValueError) as exc:
        shown = re.sub(r"//[^@/]*@", "//***@", url)  # a password in the URL stays out of the log
        raise StartError(f"cannot reach the Redis store at {shown}: {str(exc).rstrip('.')}; start Redis, or serve "
                         "without --store for the in-memory store") from None


class StartError(Exception):
    """Why the server cannot start, as one line for a person."""


def listen(host: str, port: int) -> socket.socket:
    """The listening socket, bound before anything is printed, so a taken port or an unknown
    host is one clear line instead of a banner and then uvicorn's errno."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    except socket.gaierror:
        raise StartError(f"cannot resolve the host {host!r}; give an address such as 127.0.0.1, ::1 "
                         "or 0.0.0.0 (with an admin token)") from None
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
        sock.listen(2048)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise StartError(f"port {port} on {host} is already in use; stop what holds it, or pick "
                             "another with --port (0 picks a free one)") from None
        raise StartError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    sock.set_inheritable(True)
    return sock


def main(argv: list[str] | None = None) -> int:
    """The command, ended quietly when what reads its output goes away (`| head`), as Unix tools are."""
    try:
        code = _main(argv)
        sys.stdout.flush()
        return code
    except BrokenPipeError:
        # Python would report the closed pipe again as it flushes stdout on exit: point it at nothing.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 128 + 13  # as a tool that SIGPIPE ended


def _main(argv: list[str] | None) -> int:
    parser = _parser()
    args, extra = parser.parse_known_args(argv)
    if extra:  # argparse would blame them on the top-level usage, not the command's
        command = parser.commands.get(args.command, parser)
        command.error(f"unrecognized arguments: {' '.join(extra)}")
    if args.command == "serve":
        return serve(args)
    if args.command == "generate":
        return generate.run(args)
    if args.command == "listen":
        return listen_command.run(args)
    if args.command == "report":
        return client_report.run(args)
    if args.command == "proxy":
        from sandbox.proxy import cli as proxy_cli

        return proxy_cli.run(args)
    if args.command == "check":
        from sandbox.tools import check

        return check.run(args.spec, args.control_spec, args.fixtures)
    if args.command == "verify":
        from sandbox.tools import verify

        phases = [p.strip() for p in args.phases.split(",") if p.strip()]
        unknown = sorted(set(phases) - set(PHASES))
        if unknown:
            parser.error(f"unknown phase(s): {', '.join(unknown)}; known: {', '.join(PHASES)}")
        return verify.run(args.base_url, args.api_key, args.junit_xml, phases, args.max_examples,
                          args.session, args.max_time, args.json_path)
    parser.print_help()
    return 2


if __name__ == "__main__":
    sys.exit(main())
