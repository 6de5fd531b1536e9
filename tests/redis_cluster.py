"""A real three-master Redis Cluster for the store's tests: redis-server processes of our own
on free loopback ports in a temp dir, joined by `redis-cli --cluster create`; never a stand-in."""
from __future__ import annotations

import os
import random
import shutil
import socket
import subprocess
import tempfile
import time

import redis
from redis.cluster import ClusterNode, RedisCluster

from sandbox.store.cluster import parse
from tests.redis_server import missing

HOW = ("Redis Cluster tests start their own cluster: install redis-server and redis-cli "
       "(apt-get install redis-server)")


def require() -> None:
    """Skip with one loud line without the binaries, except where Redis is required (CI)."""
    if not (shutil.which("redis-server") and shutil.which("redis-cli")):
        missing(HOW)


def free_cluster_port() -> int:
    """A free port P whose bus port P + 10000 is free too (so P is at most 55535, as Redis asks)."""
    for _ in range(200):
        port = random.randint(20000, 55535)
        try:
            with socket.socket() as a, socket.socket() as b:
                a.bind(("127.0.0.1", port))
                b.bind(("127.0.0.1", port + 10000))
            return port
        except OSError:
            continue
    raise RuntimeError("no free pair of ports for a Redis Cluster node")


class RedisClusterServers:
    """Three masters, no replicas: each slot is on exactly one of them."""

    def __init__(self, masters: int = 3):
        self.masters = masters
        self.procs: list[subprocess.Popen] = []
        self._pick()

    def _pick(self) -> None:
        self.ports = [free_cluster_port() for _ in range(self.masters)]
        self.dir = tempfile.mkdtemp(prefix="sandbox-redis-cluster-")
        self.url = "redis+cluster://" + ",".join(f"127.0.0.1:{p}" for p in self.ports)

    def start(self, tries: int = 3) -> "RedisClusterServers":
        """Up on fresh ports, tried again on other ports if a node does not come up (another
        process may take a port between the check and redis-server's bind)."""
        for attempt in range(tries):
            try:
                return self._start()
            except RuntimeError:
                if attempt == tries - 1:
                    raise
                self._pick()
        raise AssertionError("unreachable")

    def _start(self) -> "RedisClusterServers":
        try:
            for port in self.ports:
                self.procs.append(subprocess.Popen(
                    ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--dir", self.dir,
                     "--cluster-enabled", "yes", "--cluster-config-file", f"nodes-{port}.conf",
                     "--cluster-node-timeout", "5000", "--save", "", "--appendonly", "no",
                     "--logfile", f"{self.dir}/{port}.log"],
                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
            for port in self.ports:
                self._wait(lambda: self.node(port).ping(), f"redis-server on port {port}")
            subprocess.run(["redis-cli", "--cluster", "create", *(f"127.0.0.1:{p}" for p in self.ports),
                            "--cluster-replicas", "0", "--cluster-yes"],
                           check=True, capture_output=True, timeout=60)
            for port in self.ports:  # each node must see every slot served before a client asks
                self._wait(lambda: self.node(port).cluster("info")["cluster_state"] == "ok",
                           f"cluster_state:ok on port {port}")
        except BaseException:
            self.stop()
            raise
        return self

    def _wait(self, ready, what: str, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                if ready():
                    return
            except redis.RedisError:
                pass
            if time.monotonic() > deadline or any(p.poll() is not None for p in self.procs):
                logs = "".join(line for port in self.ports if os.path.exists(f"{self.dir}/{port}.log")
                               for line in open(f"{self.dir}/{port}.log").readlines()[-3:])
                raise RuntimeError(f"Redis Cluster did not start: waiting for {what}; its logs end:\n{logs}")
            time.sleep(0.05)

    def node(self, port: int) -> redis.Redis:
        return redis.Redis(host="127.0.0.1", port=port, socket_timeout=2, socket_connect_timeout=2)

    def stop(self) -> None:
        for proc in self.procs:
            proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
        self.procs = []
        shutil.rmtree(self.dir, ignore_errors=True)


def nodes(url: str) -> list[redis.Redis]:
    """A client of each node a `redis+cluster://` URL names (this helper's URLs name every master)."""
    return [redis.Redis(host=host, port=port, socket_timeout=2, socket_connect_timeout=2)
            for host, port in parse(url)["startup_nodes"]]


def client_of(url: str) -> RedisCluster:
    return RedisCluster(startup_nodes=[ClusterNode(host, port) for host, port in parse(url)["startup_nodes"]])
