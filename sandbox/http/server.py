"""A real uvicorn server for an app, in a background thread on a free loopback port."""
from __future__ import annotations

import socket
import threading
import time

import uvicorn

from sandbox.http.limits import Limits


class ServerThread:
    """Used by the pytest plugin and the test suite: `with ServerThread(app) as server: server.url`."""

    def __init__(self, app, host: str = "127.0.0.1", port: int = 0, **limits):
        """`limits`: any field of `Limits` (max_header_bytes, header_timeout, body_idle_timeout).
        Its lifespan runs as `serve`'s does: a proxy closes its upstream's connections on the way out."""
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, port))
        self.url = "http://%s:%d" % (host, self.sock.getsockname()[1])
        self.server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="auto",
                                                   http=Limits(**limits).protocol(),
                                                   **getattr(app, "server_options", {})))
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True)

    def start(self) -> "ServerThread":
        self.thread.start()
        deadline = time.monotonic() + 15
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError(f"the sandbox did not start on {self.url}")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)
        self.sock.close()

    def __enter__(self) -> "ServerThread":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
