#!/usr/bin/env python3
"""Slowloris and slow-read against a real Palisade (issue 10, hostile clients).

Starts an upstream (asyncio, in this script: "ok" for /, 1 MiB for /big) and
`palisade run` in front of it, measures a normal client's latency alone, then
opens CONNS hostile connections that either trickle a request head one byte per
second (slowloris) or ask for /big and read it one byte per second (slow-read),
and measures the normal client again while they are open. Prints: the normal
client's p50/p99 alone and under attack (target: at most 2x), Palisade's RSS
before and at its peak (target: bounded), and how many hostile connections
Palisade cut, and when (header_read for slowloris).

Usage: bench/slowloris.py --bin target/release/palisade [--conns 10000]
       [--mode slowloris|slowread|both] [--attack-seconds 30]
Needs: python3 (no packages), root or a raised open-files limit for 10k sockets.
"""

import argparse
import asyncio
import os
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import time

BIG = b"x" * (1 << 20)


async def upstream(reader, writer):
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            path = head.split(b" ", 2)[1]
            body = BIG if path == b"/big" else b"ok\n"
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError, asyncio.CancelledError):
        pass
    finally:
        writer.close()


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def open_fds(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


async def normal_client(port, n):
    """n sequential GETs on one keep-alive connection; latencies in µs."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    lat = []
    req = b"GET / HTTP/1.1\r\nHost: bench\r\n\r\n"
    for _ in range(n):
        t0 = time.perf_counter()
        writer.write(req)
        head = await reader.readuntil(b"\r\n\r\n")
        length = int([h for h in head.split(b"\r\n") if h.lower().startswith(b"content-length")][0].split(b":")[1])
        await reader.readexactly(length)
        lat.append((time.perf_counter() - t0) * 1e6)
    writer.close()
    return lat


def pct(xs, q):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))]


class Hostile:
    def __init__(self):
        self.opened = 0
        self.failed = 0
        self.cut = []  # seconds from open to being cut by the server

    async def slowloris(self, port, stop):
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            self.failed += 1
            return
        self.opened += 1
        t0 = time.monotonic()
        head = b"GET / HTTP/1.1\r\nHost: bench\r\nX-Slow: " + b"a" * 4000
        try:
            for b in head:
                if stop.is_set():
                    break
                writer.write(bytes([b]))
                await writer.drain()
                # The server cut us if the read side sees EOF or an answer.
                try:
                    data = await asyncio.wait_for(reader.read(1024), 1.0)
                    if data == b"" or data:
                        self.cut.append(time.monotonic() - t0)
                        break
                except asyncio.TimeoutError:
                    pass
        except (ConnectionError, OSError):
            self.cut.append(time.monotonic() - t0)
        finally:
            writer.close()

    async def slowread(self, port, stop):
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port, limit=1)
        except OSError:
            self.failed += 1
            return
        self.opened += 1
        t0 = time.monotonic()
        sock = writer.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        writer.write(b"GET /big HTTP/1.1\r\nHost: bench\r\n\r\n")
        try:
            while not stop.is_set():
                data = await reader.read(1)
                if not data:
                    self.cut.append(time.monotonic() - t0)
                    break
                await asyncio.sleep(1.0)
        except (ConnectionError, OSError):
            self.cut.append(time.monotonic() - t0)
        finally:
            writer.close()


async def run(args):
    up_port, port, admin = free_port(), free_port(), free_port()
    server = await asyncio.start_server(upstream, "127.0.0.1", up_port, backlog=4096)
    tmp = tempfile.mkdtemp(prefix="palisade-slowloris.")
    cfg = os.path.join(tmp, "palisade.toml")
    with open(cfg, "w") as f:
        f.write(f"""
[proxy]
workers = 2
listen = ["127.0.0.1:{port}"]
max_connections = {args.conns + 1000}
[proxy.timeouts]
header_read = "{args.header_read}"
idle = "{args.idle}"
send = "{args.send}"
[upstream]
url = "http://127.0.0.1:{up_port}"
[routes]
unknown = "allow"
[store]
path = "{tmp}/palisade.redb"
[admin]
listen = "127.0.0.1:{admin}"
[decisions]
allow_cidrs = ["127.0.0.0/8"]
[log]
level = "error"
""")
    proc = subprocess.Popen([args.bin, "run", "--config", cfg], stdout=subprocess.DEVNULL, stderr=open(os.path.join(tmp, "palisade.log"), "w"))
    try:
        for _ in range(200):
            try:
                await normal_client(port, 1)
                break
            except OSError:
                await asyncio.sleep(0.05)
        else:
            sys.exit(f"palisade did not start; see {tmp}/palisade.log")
        await normal_client(port, 2000)  # warm-up
        alone = await normal_client(port, args.requests)
        rss0 = rss_kib(proc.pid)
        print(f"normal client alone: p50 {pct(alone, .5):.0f} µs, p99 {pct(alone, .99):.0f} µs ({args.requests} requests)")
        print(f"palisade RSS before: {rss0 / 1024:.1f} MiB")
        modes = ["slowloris", "slowread"] if args.mode == "both" else [args.mode]
        for mode in modes:
            h = Hostile()
            stop = asyncio.Event()
            tasks = []
            t0 = time.monotonic()
            for i in range(args.conns):
                tasks.append(asyncio.create_task(getattr(h, mode)(port, stop)))
                if i % 500 == 499:
                    await asyncio.sleep(0.05)
            opened_in = time.monotonic() - t0
            peak = rss_kib(proc.pid)
            fds_peak = open_fds(proc.pid)
            # A slow reader holds what it already received and cannot see the cut
            # until it has read that: count Palisade's sockets instead.
            fds_cut_at = None
            under = []
            deadline = time.monotonic() + args.attack_seconds
            while time.monotonic() < deadline:
                under += await normal_client(port, 500)
                peak = max(peak, rss_kib(proc.pid))
                fds = open_fds(proc.pid)
                fds_peak = max(fds_peak, fds)
                if fds_cut_at is None and fds_peak > args.conns and fds < fds_peak - args.conns * 0.9:
                    fds_cut_at = time.monotonic() - t0
            rss_end = rss_kib(proc.pid)
            fds_end = open_fds(proc.pid)
            stop.set()
            await asyncio.gather(*tasks, return_exceptions=True)
            ratio50 = pct(under, .5) / pct(alone, .5)
            ratio99 = pct(under, .99) / pct(alone, .99)
            print(f"\n{mode}: {h.opened} hostile connections opened in {opened_in:.1f} s ({h.failed} refused)")
            print(f"  normal client under attack: p50 {pct(under, .5):.0f} µs ({ratio50:.2f}x), p99 {pct(under, .99):.0f} µs ({ratio99:.2f}x)  (target <= 2x)")
            print(f"  palisade RSS peak: {peak / 1024:.1f} MiB ({(peak - rss0) / 1024:+.1f} MiB, {(peak - rss0) * 1024 / max(h.opened, 1):.0f} bytes per hostile connection)")
            print(f"  palisade RSS at the end of the attack: {rss_end / 1024:.1f} MiB; open fds: peak {fds_peak}, at the end {fds_end}"
                  + (f" (90% of the hostile connections closed by {fds_cut_at:.0f} s)" if fds_cut_at else ""))
            if h.cut:
                print(f"  cut by palisade: {len(h.cut)} of {h.opened}, after {statistics.median(h.cut):.1f} s median (max {max(h.cut):.1f} s)")
            else:
                print(f"  cut by palisade: none within {args.attack_seconds} s")
            await asyncio.sleep(1)
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        server.close()


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--bin", required=True, help="the palisade binary (release)")
    p.add_argument("--conns", type=int, default=10000)
    p.add_argument("--mode", choices=["slowloris", "slowread", "both"], default="both")
    p.add_argument("--attack-seconds", type=float, default=30)
    p.add_argument("--requests", type=int, default=5000, help="normal requests measured alone")
    p.add_argument("--header-read", default="10s")
    p.add_argument("--idle", default="60s")
    p.add_argument("--send", default="30s", help="proxy.timeouts.send (Palisade's default: 30s)")
    args = p.parse_args()
    # This process holds one socket per hostile connection; Palisade (which
    # inherits the limit) one per client plus, for slow readers, one upstream.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = 2 * args.conns + 1000
    if soft < want:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, max(want, hard)))
        except (ValueError, PermissionError):
            if hard < args.conns + 1000:
                sys.exit(f"need {want} open files (hard limit {hard}); run as root or raise it")
            print(f"open files limited to {hard} (wanted {want}): some slow readers may be refused")
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
