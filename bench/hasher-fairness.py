#!/usr/bin/env python3
"""Hasher fairness: one user's sign-in latency while another user floods password changes.

Starts `gatehouse serve` (the binary given) on a fresh SQLite file with production Argon2
parameters (m=19456,t=2,p=1) and the rate limits and lockout raised far out of the way, so what
is measured is the hashing pool alone. A flooder (the setup admin) sends password changes with
its right current password (each one verify + hash) from FLOODERS concurrent connections; the
victim signs in SAMPLES times, one at a time, first on a quiet server, then during the flood.
Prints p50 / p95 / p99 / max of the victim's sign-ins in both phases and what the flood got.

    bench/hasher-fairness.py target/release/gatehouse [FLOODERS] [SAMPLES] [BACKOFF_MS]

BACKOFF_MS (default 0): a flooding connection waits this long after a refused (429) change
before the next, so the run measures the hashing queue rather than how fast the machine
answers a storm of cheap 429s (flooder and server share the same two cores here).
"""

import http.client
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time

PASSWORD = "correct horse battery staple"
VICTIM = "victim@example.com"


def request(port, method, path, body=None, headers=None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    data = json.dumps(body) if body is not None else None
    h = {"content-type": "application/json"} if data else {}
    h.update(headers or {})
    conn.request(method, path, body=data, headers=h)
    resp = conn.getresponse()
    text = resp.read().decode()
    out = (resp.status, dict(resp.getheaders()), text)
    conn.close()
    return out


def start(binary, workdir):
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEHOUSE_")}
    env.update(
        GATEHOUSE_DATABASE_URL=f"sqlite://{workdir}/gatehouse.db",
        GATEHOUSE_ARGON2="m=19456,t=2,p=1",
        GATEHOUSE_RATE_LIMIT_AUTH="100000000/1m",
        GATEHOUSE_RATE_LIMIT_API="100000000/1m",
        GATEHOUSE_LOCKOUT="100000000/15m",
        GATEHOUSE_SIGNUP="open",
        GATEHOUSE_LOG="warn",
    )
    proc = subprocess.Popen(
        [binary, "serve", "--listen", "127.0.0.1:0"],
        cwd=workdir,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    port, token = None, None
    for line in proc.stderr:
        if line.startswith("setup: open "):
            token = line.split("token=")[1].strip()
        if line.startswith("gatehouse listening on "):
            port = int(line.rsplit(":", 1)[1])
            break
    threading.Thread(target=lambda: [None for _ in proc.stderr], daemon=True).start()
    return proc, port, token


def login(port, email):
    t0 = time.perf_counter()
    status, headers, text = request(
        port, "POST", "/v1/auth/login", {"email": email, "password": PASSWORD}
    )
    elapsed = (time.perf_counter() - t0) * 1000
    return status, headers, text, elapsed


def percentiles(samples):
    s = sorted(samples)
    pick = lambda q: s[min(len(s) - 1, int(round(q * (len(s) - 1))))]
    return {
        "p50": statistics.median(s),
        "p95": pick(0.95),
        "p99": pick(0.99),
        "max": s[-1],
    }


def victim_run(port, samples):
    out = []
    for _ in range(samples):
        status, _, text, ms = login(port, VICTIM)
        if status != 200:
            raise SystemExit(f"victim sign-in failed: {status} {text}")
        out.append(ms)
    return out


def main():
    binary = sys.argv[1]
    flooders = int(sys.argv[2]) if len(sys.argv) > 2 else 8
    samples = int(sys.argv[3]) if len(sys.argv) > 3 else 100
    backoff = (int(sys.argv[4]) if len(sys.argv) > 4 else 0) / 1000
    with tempfile.TemporaryDirectory() as workdir:
        proc, port, token = start(binary, workdir)
        try:
            owner = "flooder@example.com"
            status, _, text = request(
                port,
                "POST",
                "/v1/setup",
                {"token": token, "email": owner, "password": PASSWORD, "org_name": "Bench"},
            )
            assert status == 201, text
            status, _, text = request(
                port, "POST", "/v1/auth/signup", {"email": VICTIM, "password": PASSWORD}
            )
            assert status == 201, text
            status, headers, text, _ = login(port, owner)
            assert status == 200, text
            cookie = headers.get("set-cookie", headers.get("Set-Cookie")).split(";")[0]
            csrf = json.loads(text)["csrf_token"]
            for _ in range(5):  # warm up
                login(port, VICTIM)
            quiet = victim_run(port, samples)

            stop = threading.Event()
            counts = {}
            lock = threading.Lock()

            def flood():
                while not stop.is_set():
                    status, _, _ = request(
                        port,
                        "POST",
                        "/v1/auth/password",
                        {"current_password": PASSWORD, "new_password": PASSWORD},
                        {"cookie": cookie, "x-csrf-token": csrf},
                    )
                    with lock:
                        counts[status] = counts.get(status, 0) + 1
                    if status == 429 and backoff:
                        time.sleep(backoff)

            threads = [threading.Thread(target=flood, daemon=True) for _ in range(flooders)]
            for t in threads:
                t.start()
            time.sleep(1.0)  # let the flood fill the queue
            t0 = time.perf_counter()
            loaded = victim_run(port, samples)
            duration = time.perf_counter() - t0
            stop.set()
            for t in threads:
                t.join()
        finally:
            proc.terminate()
            proc.wait()
    q, l = percentiles(quiet), percentiles(loaded)
    print(
        f"binary {binary}; {flooders} flooding connections, backoff {backoff * 1000:.0f} ms; "
        f"{samples} sign-ins per phase"
    )
    print("victim sign-in, quiet: " + ", ".join(f"{k} {v:.1f} ms" for k, v in q.items()))
    print("victim sign-in, flood: " + ", ".join(f"{k} {v:.1f} ms" for k, v in l.items()))
    print(f"flood p99 / quiet p99: {l['p99'] / q['p99']:.2f}")
    answers = ", ".join(f"{k}: {v}" for k, v in sorted(counts.items()))
    print(f"flood answers during the run (~{duration:.1f} s): {answers}")


if __name__ == "__main__":
    main()
