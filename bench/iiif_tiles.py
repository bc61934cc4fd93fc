#!/usr/bin/env python3
"""IIIF latency on a 24-megapixel PNG: cold first request, then cached tiles.

Writes a 6000x4000 RGB PNG (a gradient with 3 bits of noise per sample, zlib level 6:
~35 MB, about what a photo-like output weighs) and `--copies` byte-identical copies
(each copy is a different cache key, so each one is a cold start), starts a fresh
`qaboard-server` (SQLite, storage root = the bench folder) and, per copy, times with
one keep-alive connection:

  cold info.json   the first request for the file: decodes the whole PNG into the cache
  cold tile        first tile of a copy asked without info.json first (decode + render)
  warm tile        1024x1024 tiles at full resolution (OpenSeadragon's requests:
                   /x,y,1024,1024/1024,/0/default.png), cached decoded image
  warm zoomed-out  /x,y,4096,4096/1024,/0/default.png (downscaled tiles)
  warm full        /full/1024,/0/default.jpg (an overview)
  warm info.json

Prints p50 / p90 / max in ms per kind and the server's peak RSS. Standard library only.

    bench/iiif_tiles.py                            # target/release/qaboard-server
    SERVER_BIN=... WORK=/tmp/qaboard-iiif-bench bench/iiif_tiles.py --copies 5
"""
import argparse
import http.client
import os
import random
import statistics
import struct
import subprocess
import sys
import time
import zlib

W, H = 6000, 4000


def write_png(path):
    row_len = W * 3
    base = bytes((x * 255 // row_len) & 0xFF for x in range(row_len))
    mask = int.from_bytes(b"\x07" * row_len, "big")
    rng = random.Random(1)
    comp = zlib.compressobj(6)
    out = []
    for y in range(H):
        k = (y * 3) % row_len
        row = base[k:] + base[:k]
        noise = rng.getrandbits(row_len * 8) & mask
        row = (int.from_bytes(row, "big") ^ noise).to_bytes(row_len, "big")
        out.append(comp.compress(b"\x00" + row))
    out.append(comp.flush())
    idat = b"".join(out)

    def chunk(t, d):
        return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xFFFFFFFF)

    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", W, H, 8, 2, 0, 0, 0))
                + chunk(b"IDAT", idat) + chunk(b"IEND", b""))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--copies", type=int, default=3)
    ap.add_argument("--tiles", type=int, default=40, help="warm tiles per copy")
    ap.add_argument("--port", type=int, default=18792)
    args = ap.parse_args()
    server_bin = os.environ.get("SERVER_BIN", "target/release/qaboard-server")
    work = os.environ.get("WORK", "/tmp/qaboard-iiif-bench")
    root = os.path.join(work, "root")
    os.makedirs(root, exist_ok=True)
    src = os.path.join(root, "big.png")
    if not os.path.exists(src):
        t = time.time()
        write_png(src)
        print(f"wrote {src} ({os.path.getsize(src) / 2**20:.1f} MiB) in {time.time() - t:.0f} s")
    data = None
    for i in range(2 * args.copies):
        p = os.path.join(root, f"copy{i}.png")
        if not os.path.exists(p):
            data = data or open(src, "rb").read()
            open(p, "wb").write(data)
    os.system(f"cat {root}/*.png > /dev/null")  # page cache
    env = dict(os.environ, QABOARD_DATA_DIR=os.path.join(work, "data"), QABOARD_STORAGE_ROOT=root,
               QABOARD_LISTEN=f"127.0.0.1:{args.port}", RUST_LOG="warn")
    subprocess.run(["rm", "-rf", env["QABOARD_DATA_DIR"]])
    server = subprocess.Popen([server_bin], env=env, stdout=subprocess.DEVNULL,
                              stderr=open(os.path.join(work, "server.log"), "w"))
    times = {}
    try:
        for _ in range(100):
            try:
                c = http.client.HTTPConnection("127.0.0.1", args.port, timeout=2)
                c.request("GET", "/healthz")
                if c.getresponse().status == 200:
                    break
            except OSError:
                time.sleep(0.1)
        conn = http.client.HTTPConnection("127.0.0.1", args.port, timeout=300)

        def get(kind, path):
            t = time.perf_counter()
            conn.request("GET", path)
            r = conn.getresponse()
            body = r.read()
            ms = (time.perf_counter() - t) * 1000
            if r.status != 200:
                raise SystemExit(f"{path}: {r.status} {body[:200]!r}")
            times.setdefault(kind, []).append(ms)

        rng = random.Random(2)
        for i in range(args.copies):
            ident = "/iiif/2/" + (root.strip("/") + f"/copy{i}.png").replace("/", "%2F")
            get("cold info.json", ident + "/info.json")
            for _ in range(args.tiles):
                x, y = rng.randrange(0, W // 1024) * 1024, rng.randrange(0, H // 1024) * 1024
                get("warm tile 1024 (full res)", f"{ident}/{x},{y},1024,1024/1024,/0/default.png")
            for _ in range(args.tiles // 4):
                x, y = rng.randrange(0, 2) * 4096, 0
                w = min(4096, W - x)
                get("warm tile zoomed out (4096->1024)", f"{ident}/{x},{y},{w},4000/{1024 * w // 4096},/0/default.png")
                get("warm full/1024, jpg", f"{ident}/full/1024,/0/default.jpg")
                get("warm info.json", ident + "/info.json")
            other = "/iiif/2/" + (root.strip("/") + f"/copy{args.copies + i}.png").replace("/", "%2F")
            get("cold tile (no info.json before)", f"{other}/0,0,1024,1024/1024,/0/default.png")
        with open(f"/proc/{server.pid}/status") as f:
            hwm = next(int(line.split()[1]) for line in f if line.startswith("VmHWM"))
    finally:
        server.terminate()
        server.wait()
    print(f"6000x4000 PNG, {args.copies} copies, load average {os.getloadavg()[0]:.1f}")
    print("| request | n | p50 ms | p90 ms | max ms |")
    print("|---|---|---|---|---|")
    for kind, v in times.items():
        v = sorted(v)
        p90 = v[min(len(v) - 1, int(len(v) * 0.9))]
        print(f"| {kind} | {len(v)} | {statistics.median(v):.1f} | {p90:.1f} | {v[-1]:.1f} |")
    print(f"server peak RSS: {hwm / 1024:.0f} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
