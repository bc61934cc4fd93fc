#!/usr/bin/env python3
"""Backend CPU per statement of PostgreSQL, read from /proc/<backend>/stat (the
server must run on this machine): survives other load, unlike latency.

    bench/pg_stmt_cpu.py DB_URL RUNS FILE.sql [FILE.sql ...]

Each FILE holds one statement. For each of 2 rounds, alternating the files:
one psql session per file, 20 warm-up runs, then RUNS runs (output discarded);
prints the backend's user+system CPU per run in ms. Used by bench/explain.sh
(CPU_RUNS=N) for the commits list's version (issue 16).
"""
import os
import subprocess
import sys


def backend_cpu_s(pid):
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wait_for(p, mark):
    p.stdin.write(f"SELECT '{mark}';\n")
    while p.stdout.readline().strip() != mark:
        pass


def cpu_ms_per_run(url, sql, runs):
    p = subprocess.Popen(["psql", "-X", "-q", "-A", "-t", url], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, text=True, bufsize=1)
    p.stdin.write("SELECT pg_backend_pid();\n")
    pid = int(p.stdout.readline())
    p.stdin.write("\\o /dev/null\n" + (sql + "\n") * 20 + "\\o\n")
    wait_for(p, "warm")
    before = backend_cpu_s(pid)
    p.stdin.write("\\o /dev/null\n" + (sql + "\n") * runs + "\\o\n")
    wait_for(p, "done")
    after = backend_cpu_s(pid)
    p.stdin.close()
    p.wait()
    return (after - before) * 1000 / runs


def main():
    if len(sys.argv) < 4:
        sys.exit(__doc__)
    url, runs, files = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
    for _ in range(2):
        for f in files:
            sql = " ".join(open(f).read().split()).rstrip(";") + ";"
            print(f"{os.path.basename(f):40} {cpu_ms_per_run(url, sql, runs):.3f} ms backend CPU per run",
                  flush=True)


main()
