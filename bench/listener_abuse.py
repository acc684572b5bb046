"""Benchmark: abuse of the daemon's listener, against a real ``recipe-runner run`` on loopback.
Not a test.

Phases, each bounded in count and time: slow request heads (clients sending one header line
a second), idle connections opened as fast as possible, a flood of webhook POSTs, oversized
bodies and deeply nested JSON. Throughout, ``/healthz`` is probed every 0.1 s on a fresh
connection; the daemon's resident memory is sampled from ``/proc``. Prints, per phase, the
answers the abusers got, the health latency (median, 95th percentile, worst) and the memory,
beside the quiet baseline before and after; exits 1 if the daemon died or a health probe
failed or took a second or more.

    .venv/bin/python bench/listener_abuse.py [--slow 500] [--idle 1000] [--flood 3000]
        [--oversized 100] [--phase-s 12]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import os
import resource
import socket
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
RECIPES = {
    "hook.yaml": "name: hook\ntrigger: {type: http.webhook, auth: none}\n"
                 "actions: [{type: log, message: 'got {{ trigger.record.body.n }}'}]\n",
    "tick.yaml": "name: tick\ntrigger: {type: schedule, every: 1s}\n"
                 "actions: [{type: log, message: tick}]\n",
}


@dataclass
class Sample:
    name: str
    answers: Counter[str] = field(default_factory=Counter)
    latencies_s: list[float] = field(default_factory=list)
    failed_probes: int = 0
    peak_rss_mib: float = 0.0
    wall_s: float = 0.0

    def latency(self) -> str:
        if not self.latencies_s:
            return "-"
        ordered = sorted(self.latencies_s)
        p95 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))]
        return (f"{statistics.median(ordered) * 1000:6.1f} / {p95 * 1000:6.1f} / "
                f"{ordered[-1] * 1000:6.1f} ms")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def rss_mib(pid: int) -> float:
    with contextlib.suppress(OSError), open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


@asynccontextmanager
async def daemon(folder: Path) -> AsyncIterator[tuple[asyncio.subprocess.Process, str]]:
    (folder / "recipes").mkdir()
    for name, text in RECIPES.items():
        (folder / "recipes" / name).write_text(text)
    port = free_port()
    env = {**os.environ, "RECIPE_RUNNER_LISTEN": f"127.0.0.1:{port}",
           "RECIPE_RUNNER_LOG_FORMAT": "json", "RECIPE_RUNNER_LOG_LEVEL": "warning",
           "PYTHONPATH": str(ROOT)}
    log = (folder / "daemon.log").open("wb")
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "runner.cli", "run", "--recipes", str(folder / "recipes"),
        "--state", f"sqlite:///{folder / 'state.db'}", stdout=log, stderr=log, env=env,
        cwd=folder)
    base = f"http://127.0.0.1:{port}"
    try:
        await _wait_listening(base)
        yield process, base
    finally:
        if process.returncode is None:
            process.terminate()
            await asyncio.wait_for(process.wait(), 30)
        log.close()


async def _wait_listening(base: str) -> None:
    for _ in range(300):
        with contextlib.suppress(aiohttp.ClientError, OSError):
            async with aiohttp.ClientSession() as http, http.get(base + "/healthz") as resp:
                if resp.status == 200:
                    return
        await asyncio.sleep(0.1)
    raise SystemExit("the daemon did not start listening")


async def probe(base: str) -> float | None:
    started = time.monotonic()
    try:
        timeout = aiohttp.ClientTimeout(total=2)
        async with aiohttp.ClientSession(timeout=timeout) as http, \
                http.get(base + "/healthz") as resp:
            await resp.read()
            return time.monotonic() - started if resp.status == 200 else None
    except (aiohttp.ClientError, OSError, TimeoutError):
        return None


async def observe(sample: Sample, base: str, pid: int, stop: asyncio.Event) -> None:
    while not stop.is_set():
        latency = await probe(base)
        if latency is None:
            sample.failed_probes += 1
        else:
            sample.latencies_s.append(latency)
        sample.peak_rss_mib = max(sample.peak_rss_mib, rss_mib(pid))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 0.1)


async def phase(name: str, base: str, pid: int,
                abuse: Callable[[Sample], Awaitable[None]]) -> Sample:
    sample = Sample(name)
    stop = asyncio.Event()
    watcher = asyncio.create_task(observe(sample, base, pid, stop))
    started = time.monotonic()
    await abuse(sample)
    sample.wall_s = time.monotonic() - started
    stop.set()
    await watcher
    return sample


# -- the abusers ---------------------------------------------------------------------------


def _port(base: str) -> int:
    return int(base.rsplit(":", 1)[1])


async def slow_heads(sample: Sample, base: str, count: int, limit_s: float) -> None:
    async def one() -> None:
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", _port(base))
        except OSError:
            sample.answers["refused at connect"] += 1
            return
        started = time.monotonic()
        try:
            writer.write(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")
            while time.monotonic() - started < limit_s:
                await asyncio.sleep(1.0)
                writer.write(b"X-Slow: 1\r\n")
                await writer.drain()
                if reader.at_eof():
                    break
            data = await asyncio.wait_for(reader.read(64), 1)
            held_s = time.monotonic() - started
            kind = data.split(b"\r\n")[0].decode(errors="replace") or "closed"
            sample.answers[f"{kind} after <{int(held_s) + 1}s"] += 1
        except ConnectionError:
            sample.answers[f"reset after <{int(time.monotonic() - started) + 1}s"] += 1
        except TimeoutError:
            sample.answers[f"still held after {limit_s:g}s"] += 1
        finally:
            writer.close()

    await asyncio.gather(*(one() for _ in range(count)))


async def idle_connections(sample: Sample, base: str, count: int, hold_s: float) -> None:
    """Open ``count`` connections that never send a byte; how many the server kept."""
    opened: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
    for _ in range(count):
        try:
            opened.append(await asyncio.open_connection("127.0.0.1", _port(base)))
        except OSError:
            sample.answers["refused at connect"] += 1
    await asyncio.sleep(hold_s)
    still_open = 0
    for reader, writer in opened:
        try:
            still_open += await asyncio.wait_for(reader.read(1), 0.01) != b""
        except TimeoutError:
            still_open += 1
        except ConnectionError:
            pass
        writer.close()
    sample.answers[f"opened {len(opened)}, still open after {hold_s:g}s"] += still_open


async def posts(sample: Sample, base: str, count: int, concurrency: int,
                body: Callable[[int], bytes]) -> None:
    queue: asyncio.Queue[int] = asyncio.Queue()
    for index in range(count):
        queue.put_nowait(index)

    async def worker(http: aiohttp.ClientSession) -> None:
        while not queue.empty():
            index = queue.get_nowait()
            try:
                async with http.post(base + "/hooks/hook", data=io.BytesIO(body(index)),
                                     headers={"Content-Type": "application/json"}) as resp:
                    await resp.read()
                    sample.answers[str(resp.status)] += 1
            except (aiohttp.ClientError, OSError, TimeoutError) as exc:
                sample.answers[exc.__class__.__name__] += 1

    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(timeout=timeout) as http:
        await asyncio.gather(*(worker(http) for _ in range(concurrency)))


# -- the run -----------------------------------------------------------------------------


async def run(args: argparse.Namespace) -> list[Sample]:
    with tempfile.TemporaryDirectory() as name:
        async with daemon(Path(name)) as (process, base):
            pid = process.pid
            await asyncio.sleep(1.0)  # settled
            quiet = lambda label: phase(label, base, pid,  # noqa: E731
                                        lambda _s: asyncio.sleep(3.0))
            big = b'"' + b"x" * (5 * 1024 * 1024) + b'"'
            deep = b"[" * 100_000 + b"]" * 100_000
            samples = [
                await quiet("before (quiet)"),
                await phase(f"{args.slow} slow request heads", base, pid,
                            lambda s: slow_heads(s, base, args.slow, args.phase_s)),
                await phase(f"{args.idle} idle connections", base, pid,
                            lambda s: idle_connections(s, base, args.idle, args.phase_s / 2)),
                await phase(f"{args.flood} webhook POSTs (64 at a time)", base, pid,
                            lambda s: posts(s, base, args.flood, 64,
                                            lambda i: b'{"n": %d}' % i)),
                await phase(f"{args.oversized} bodies of 5 MiB", base, pid,
                            lambda s: posts(s, base, args.oversized, 16, lambda _i: big)),
                await phase(f"{args.oversized} bodies nested 100k deep", base, pid,
                            lambda s: posts(s, base, args.oversized, 16, lambda _i: deep)),
                await quiet("after (quiet)"),
            ]
            alive = process.returncode is None
    print(f"daemon alive at the end: {'yes' if alive else 'NO'}")
    return samples if alive else []


def report(samples: list[Sample]) -> bool:
    print(f"{'phase':40} {'wall':>6}  {'/healthz median / p95 / worst':>30}  "
          f"{'failed':>6}  {'peak RSS':>9}  answers to the abuser")
    for s in samples:
        answers = ", ".join(f"{k}: {v}" for k, v in s.answers.most_common(4)) or "-"
        print(f"{s.name:40} {s.wall_s:5.1f}s  {s.latency():>30}  {s.failed_probes:6d}  "
              f"{s.peak_rss_mib:6.1f} MiB  {answers}")
    if not samples:
        return False
    before, after = samples[0], samples[-1]
    worst = max((max(s.latencies_s, default=0.0) for s in samples), default=0.0)
    print(f"worst health latency under abuse: {worst * 1000:.0f} ms; memory after / before: "
          f"{after.peak_rss_mib / max(before.peak_rss_mib, 1):.2f}")
    return worst < 1.0 and all(s.failed_probes == 0 for s in samples)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--slow", type=int, default=500)
    parser.add_argument("--idle", type=int, default=1000)
    parser.add_argument("--flood", type=int, default=3000)
    parser.add_argument("--oversized", type=int, default=100)
    parser.add_argument("--phase-s", type=float, default=12.0)
    args = parser.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 8192)), hard))
    return 0 if report(asyncio.run(run(args))) else 1


if __name__ == "__main__":
    sys.exit(main())
