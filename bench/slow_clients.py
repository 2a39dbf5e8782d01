#!/usr/bin/env python3
"""Slow-client load test (SPEC §13): hundreds of half-open connections against a real
`gatehouse serve` while /healthz and a sign-in are measured, then SIGTERM with silent
connections open.

    bench/slow_clients.py [--bin target/release/gatehouse] [--db sqlite|postgres]
                          [--conns 800] [--nofile 1024] [--seconds 25]

The server runs under `prlimit --nofile=N:N` (the default `ulimit -n` of 1,024, under which
~1,050 half-open connections used to stop every request). The attackers hold their connections
open by sending one header line every 2 s and never the blank line that ends the head; every
connection the server closes is opened again at once, so the flood stays at --conns for the
whole run. Needs Python 3.8+ only; PostgreSQL on 127.0.0.1:5432 (trust auth) for --db postgres.
"""

import argparse
import http.client
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid

PASSWORD = "correct horse battery staple"


def start_server(args, workdir):
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEHOUSE_")}
    if args.db == "postgres":
        name = "gh_bench_" + uuid.uuid4().hex
        subprocess.run(["psql", "-h", "127.0.0.1", "-U", "postgres", "-qc",
                        f"CREATE DATABASE {name}"], check=True)
        env["GATEHOUSE_DATABASE_URL"] = f"postgres://postgres@127.0.0.1:5432/{name}"
    else:
        name = None
        env["GATEHOUSE_DATABASE_URL"] = f"sqlite://{workdir}/gatehouse.db"
    env.update({
        "GATEHOUSE_SIGNUP": "open",
        "GATEHOUSE_LOG": "warn",
        "GATEHOUSE_RATE_LIMIT_AUTH": "100000/1m",
        "GATEHOUSE_LOCKOUT": "100000/15m",
    })
    cmd = ["prlimit", f"--nofile={args.nofile}:{args.nofile}", "--", args.bin,
           "serve", "--listen", "127.0.0.1:0"]
    proc = subprocess.Popen(cmd, env=env, cwd=workdir, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 30
    while time.time() < deadline:
        line = proc.stderr.readline()
        if line.startswith("gatehouse listening on http://"):
            host, port = line.strip().rsplit("/", 1)[1].rsplit(":", 1)
            threading.Thread(target=lambda: proc.stderr.read(), daemon=True).start()
            return proc, (host, int(port)), name
        if proc.poll() is not None:
            sys.exit(f"gatehouse exited: {line}")
    sys.exit("gatehouse did not start")


def request(addr, method, path, body=None, timeout=10.0):
    """One request on a new connection: (status or None, seconds)."""
    started = time.perf_counter()
    try:
        c = http.client.HTTPConnection(addr[0], addr[1], timeout=timeout)
        headers = {"content-type": "application/json"} if body is not None else {}
        c.request(method, path, body=json.dumps(body) if body is not None else None,
                  headers=headers)
        status = c.getresponse().status
        c.close()
    except OSError:
        status = None
    return status, time.perf_counter() - started


def measure(addr, label, rounds):
    health, signin, failed = [], [], 0
    for i in range(rounds):
        s, t = request(addr, "GET", "/healthz")
        health.append(t)
        failed += s != 200
        if i % 5 == 0:
            s, t = request(addr, "POST", "/v1/auth/login",
                           {"email": "bench@example.com", "password": PASSWORD})
            signin.append(t)
            failed += s != 200
        time.sleep(0.05)
    return {"label": label, "healthz": health, "signin": signin, "failed": failed}


class Flood:
    """Keeps `n` half-open connections open, dripping a header line every 2 s."""

    def __init__(self, addr, n):
        self.addr, self.n = addr, n
        self.socks, self.opened, self.closed_by_server = [], 0, 0
        self.stop = threading.Event()

    def _open(self):
        try:
            s = socket.create_connection(self.addr, timeout=2)
            s.sendall(b"POST /v1/auth/login HTTP/1.1\r\nHost: x\r\n")
            s.setblocking(False)
            self.opened += 1
            return s
        except OSError:
            return None

    def run(self):
        while len(self.socks) < self.n and not self.stop.is_set():
            s = self._open()
            if s:
                self.socks.append(s)
        i = 0
        while not self.stop.is_set():
            i += 1
            alive = []
            for s in self.socks:
                try:
                    s.send(f"X-Drip-{i}: x\r\n".encode())
                    if s.recv(1) == b"":
                        raise OSError("closed")
                except BlockingIOError:
                    alive.append(s)
                    continue
                except OSError:
                    pass
                else:
                    alive.append(s)
                    continue
                self.closed_by_server += 1
                s.close()
            self.socks = alive
            while len(self.socks) < self.n and not self.stop.is_set():
                s = self._open()
                if s:
                    self.socks.append(s)
            self.stop.wait(2)

    def close(self):
        self.stop.set()
        for s in self.socks:
            s.close()


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


def row(m):
    h, s = m["healthz"], m["signin"]
    ms = lambda x: f"{x * 1000:.1f}"
    return (f"| {m['label']} | {ms(statistics.median(h))} / {ms(pct(h, 99))} / {ms(max(h))} | "
            f"{ms(statistics.median(s))} / {ms(max(s))} | {m['failed']} |")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default="target/release/gatehouse")
    ap.add_argument("--db", default="sqlite", choices=["sqlite", "postgres"])
    ap.add_argument("--conns", type=int, default=800)
    ap.add_argument("--nofile", type=int, default=1024)
    ap.add_argument("--seconds", type=float, default=25)
    args = ap.parse_args()
    args.bin = os.path.abspath(args.bin)
    workdir = tempfile.mkdtemp(prefix="gh-slow-")
    proc, addr, pg = start_server(args, workdir)
    try:
        s, _ = request(addr, "POST", "/v1/auth/signup",
                       {"email": "bench@example.com", "password": PASSWORD})
        assert s == 201, s
        quiet = measure(addr, "quiet", 60)
        flood = Flood(addr, args.conns)
        t = threading.Thread(target=flood.run, daemon=True)
        t.start()
        while len(flood.socks) < args.conns and flood.opened < args.conns * 3:
            time.sleep(0.1)
        rounds = int(args.seconds / 0.06)
        loaded = measure(addr, f"{args.conns} half-open connections (kept up)", rounds)
        opened, closed = flood.opened, flood.closed_by_server
        flood.close()
        t.join()
        # SIGTERM while silent and half-open connections are open.
        silent = [socket.create_connection(addr) for _ in range(50)]
        for s in silent[:25]:
            s.sendall(b"GET /healthz HTTP/1.1\r\n")
        started = time.perf_counter()
        proc.send_signal(signal.SIGTERM)
        try:
            code = proc.wait(timeout=15)
            stop = f"{(time.perf_counter() - started) * 1000:.0f} ms, exit {code}"
        except subprocess.TimeoutExpired:
            stop = "did not exit within 15 s"
        for s in silent:
            s.close()
        print(f"db={args.db} nofile={args.nofile} flood={args.conns} bin={args.bin}")
        print("| phase | /healthz p50 / p99 / max (ms) | sign-in p50 / max (ms) | failed |")
        print("|---|---|---|---|")
        print(row(quiet))
        print(row(loaded))
        print(f"flood connections opened: {opened}, closed by the server: {closed}")
        print(f"SIGTERM with 50 silent/half-open connections open: {stop}")
    finally:
        if proc.poll() is None:
            proc.kill()
        if pg:
            subprocess.run(["psql", "-h", "127.0.0.1", "-U", "postgres", "-qc",
                            f"DROP DATABASE IF EXISTS {pg} WITH (FORCE)"])
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
