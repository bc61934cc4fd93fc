#!/usr/bin/env python3
"""Server memory (RSS) before, during and after bursts of large request bodies.

Starts a fresh `qaboard-server` (SQLite, throwaway data dir), then sends
`--rounds` bursts of `--concurrency` simultaneous POST /api/v1/output/ bodies
of `--mib` MiB each (valid JSON, parsed in full, then refused with a 400
because `commit_sha` is missing: nothing is written, so only the body path is
measured). VmRSS of the server is sampled every 50 ms; the script prints RSS
before the first burst, the peak during each burst, and RSS 1 s and 5 s after
each burst, plus the status counts (200/400/503/...).

    bench/body_burst.py                          # target/release/qaboard-server
    SERVER_BIN=path/to/qaboard-server bench/body_burst.py --rounds 3

Python standard library only. Nothing asserts: numbers go to bench/README.md.
"""
import argparse
import http.client
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def body_of(mib):
    pad = "x" * (mib * 1024 * 1024 - 200)
    return json.dumps({"project": "bench/burst", "data": {"pad": pad}}).encode()


def post(port, body, statuses, lock):
    try:
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        c.request("POST", "/api/v1/output/", body=body, headers={"Content-Type": "application/json"})
        status = c.getresponse().status
    except Exception as e:  # noqa: BLE001 - counted, not raised
        status = type(e).__name__
    with lock:
        statuses[status] += 1


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--concurrency", type=int, default=64)
    ap.add_argument("--mib", type=int, default=15, help="body size in MiB (limit is 16 MiB)")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--port", type=int, default=18791)
    args = ap.parse_args()
    server_bin = os.environ.get("SERVER_BIN", "target/release/qaboard-server")
    work = tempfile.mkdtemp(prefix="qaboard-burst-")
    env = dict(os.environ, QABOARD_DATA_DIR=work + "/data", QABOARD_STORAGE_ROOT=work + "/root",
               QABOARD_LISTEN=f"127.0.0.1:{args.port}", RUST_LOG="warn")
    os.makedirs(work + "/root")
    server = subprocess.Popen([server_bin], env=env, stdout=subprocess.DEVNULL, stderr=open(work + "/server.log", "w"))
    try:
        for _ in range(100):
            try:
                c = http.client.HTTPConnection("127.0.0.1", args.port, timeout=2)
                c.request("GET", "/healthz")
                if c.getresponse().status == 200:
                    break
            except OSError:
                time.sleep(0.1)
        body = body_of(args.mib)
        time.sleep(1)
        print(f"server {server_bin} pid {server.pid}; {args.rounds} bursts of {args.concurrency} x {len(body) / 2**20:.1f} MiB")
        print(f"RSS idle before: {rss_kib(server.pid) / 1024:.0f} MiB")
        for r in range(args.rounds):
            statuses, lock, peak = Counter(), threading.Lock(), [0]
            done = threading.Event()

            def sample():
                while not done.is_set():
                    peak[0] = max(peak[0], rss_kib(server.pid))
                    time.sleep(0.05)

            sampler = threading.Thread(target=sample)
            sampler.start()
            t0 = time.time()
            threads = [threading.Thread(target=post, args=(args.port, body, statuses, lock)) for _ in range(args.concurrency)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            elapsed = time.time() - t0
            done.set()
            sampler.join()
            time.sleep(1)
            after1 = rss_kib(server.pid)
            time.sleep(4)
            after5 = rss_kib(server.pid)
            print(f"burst {r + 1}: {elapsed:.1f} s, statuses {dict(statuses)}, RSS peak {peak[0] / 1024:.0f} MiB, "
                  f"after 1 s {after1 / 1024:.0f} MiB, after 5 s {after5 / 1024:.0f} MiB")
    finally:
        server.terminate()
        server.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
