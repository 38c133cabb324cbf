"""N held `POST /session/{id}/message` calls on one wakeful server process.

The scripted LLM (bench/quiet_fakellm.py) runs in its own process and waits `--hold` seconds before
it answers, so every call is held that long and lives on keep-alive newlines (`--interval`, 1 s).
Load comes from `--clients` processes, each on asyncio with raw streams (not httpx.AsyncClient, whose
pool stalls the loop at this scale), one session per call, launches spread over `--ramp` seconds.

Measured:
- failures: a status other than 200, a cut or unparsable body, an error in the reply, a wrong reply;
- keep-alive lateness at the client: every gap between the headers and the first newline and between
  two newlines, minus the interval (p50 / p99 / max);
- time to headers (the server answers the call's headers before any newline) and time until the
  call's request reaches the LLM (the server's submission and run-start work);
- each client's own event-loop lag (a 50 ms ticker), so a late newline can be told from a slow client;
- server CPU (utime + stime from /proc/<pid>/stat) over the run and over the steady hold (from the
  last LLM request to the first answer: every call held, nothing but keep-alives to do);
- server memory per held call: (the peak RSS before the first answer - RSS after the sessions exist) /
  the calls held by then, against ~30 KiB; and the peak over the whole run / N, which also counts the
  bounded caches (event replay, message history) that finished runs fill.

    .venv/bin/python bench/held_calls.py --n 100 1000
    .venv/bin/python bench/held_calls.py --n 1000 --transport httpx
    .venv/bin/python bench/held_calls.py --n 9000 --hold 300 --call-timeout 1800
    .venv/bin/python bench/held_calls.py --smoke     # N = 50, exits 1 on a failure or p99 >= interval
    .venv/bin/python bench/held_calls.py --burst --n 1000   # all at once, 3 s read timeout
    .venv/bin/python bench/held_calls.py --n 1000 --burst --replicas 2   # replicas on PostgreSQL

`--burst` is the hourly cron across a fleet: every call opens at the same instant (no ramp), from
the client processes as fast as they can, and each read (the headers included) times out after
`--read-timeout` seconds (3 s), as a client with a 3 s read timeout would; a call that waits longer
for its headers is a failure. It also reports how fast the calls were accepted: N over the time from
the first call sent to the last headers received. `--replicas K` runs K servers on one
throwaway PostgreSQL cluster (tests/support/postgres.py) and spreads the calls over them round-robin,
as a load balancer would; `--postgres` runs a single server on PostgreSQL too, for a baseline.

Each held call costs the server two sockets, so N needs an open-file limit above 2 N + 1,024; the
bench refuses (exit 2) an N that does not fit. Results, commands and the machine: docs/benchmarks.md.

Goal (issue 6): zero failures and p99 lateness under one interval at every N; the exit status is 1
when a run misses it. With `--burst` (issue 18) also time to headers p99 under 1 s.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import queue
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from multiprocessing.synchronize import Event as MpEvent
from pathlib import Path
from typing import Any

import aiohttp
import httpx

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.support.fakellm import spawn  # noqa: E402
from tests.support.postgres import Cluster, binaries  # noqa: E402
from tests.support.procs import cpu_seconds, processes, rss_kib  # noqa: E402
from tests.support.server import WakefulProcess, write_project_config  # noqa: E402

from wakeful.config import ServerConfig  # noqa: E402

HOST = "127.0.0.1"
FLOOR_KIB = 30  # ../shared/reference/long-call-facts.md: uvicorn, one held stream, 1 s keep-alive
TICK = 0.05


# --- limits ------------------------------------------------------------------------------------


def raise_nofile(want: int = 0) -> tuple[int, int]:
    """Soft limit to the hard limit; as root, the hard limit up to `want` as well (each held call
    costs the server two sockets, so 10,000 calls need more than the common 20,000)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if want > hard and os.geteuid() == 0:
        try:
            ceiling = int(Path("/proc/sys/fs/nr_open").read_text())
        except (OSError, ValueError):
            ceiling = want
        target = min(want, ceiling)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, target))
            return target, target
        except (ValueError, OSError):
            pass
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)


# --- one held call, over raw asyncio streams ------------------------------------------------------


@dataclass
class Call:
    index: int
    ok: bool = False
    error: str = ""
    sent: float = 0.0
    headers: float = 0.0
    ended: float = 0.0
    gaps: list[float] = field(default_factory=list)  # headers -> 1st newline, then newline -> newline


async def _read_head(reader: asyncio.StreamReader) -> tuple[int, dict[str, str]]:
    status_line = await reader.readline()
    parts = status_line.split(None, 2)
    if len(parts) < 2:
        raise ConnectionError(f"no status line: {status_line!r}")
    headers: dict[str, str] = {}
    while True:
        line = await reader.readline()
        if line in (b"\r\n", b"\n", b""):
            break
        name, _, value = line.decode("latin-1").partition(":")
        headers[name.strip().lower()] = value.strip()
    return int(parts[1]), headers


async def held_call(
    port: int, session: str, call: Call, hold: float, silence: float, head_timeout: float | None = None
) -> None:
    """`silence` bounds each wait for body bytes; the headers may take as long as the whole call
    (their delay is measured and reported, not treated as a failure) unless `head_timeout` bounds
    them too (a client's read timeout)."""
    text = f"DELAY {hold:g}\nREPLY ok {call.index}"
    payload = json.dumps({"parts": [{"type": "text", "text": text}]}).encode()
    request = (
        f"POST /session/{session}/message HTTP/1.1\r\nHost: {HOST}:{port}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\nConnection: close\r\n\r\n"
    ).encode() + payload
    call.sent = time.monotonic()
    reader, writer = await asyncio.open_connection(HOST, port, limit=1 << 20)
    try:
        writer.write(request)
        status, headers = await asyncio.wait_for(_read_head(reader), head_timeout)
        call.headers = last = time.monotonic()
        body = b""
        if headers.get("transfer-encoding", "").lower() != "chunked":
            body = await asyncio.wait_for(reader.readexactly(int(headers.get("content-length", "0"))), silence)
        else:
            while True:
                size_line = await asyncio.wait_for(reader.readline(), silence)
                if not size_line:
                    raise ConnectionError("body cut before its last chunk")
                size = int(size_line.split(b";")[0], 16)
                if size == 0:
                    break
                chunk = (await asyncio.wait_for(reader.readexactly(size + 2), silence))[:-2]
                now = time.monotonic()
                if not body.strip():  # still in the keep-alive prefix: time each newline
                    prefix = chunk[: len(chunk) - len(chunk.lstrip())]
                    for _ in range(prefix.count(b"\n")):
                        call.gaps.append(now - last)
                        last = now
                body += chunk
        call.ended = time.monotonic()
        if status != 200:
            call.error = f"status {status}: {body[:200]!r}"
            return
        document = json.loads(body)
        info = document.get("info") or {}
        if info.get("error"):
            call.error = f"reply error: {json.dumps(info['error'])[:200]}"
            return
        texts = [p.get("text") for p in document.get("parts") or [] if p.get("type") == "text"]
        if texts != [f"ok {call.index}"]:
            call.error = f"wrong reply: {texts!r}"
            return
        call.ok = True
    except (OSError, EOFError, asyncio.IncompleteReadError, TimeoutError, ValueError) as exc:
        call.ended = call.ended or time.monotonic()
        call.error = f"{type(exc).__name__}: {exc}"[:300]
    finally:
        writer.close()
        try:
            await writer.wait_closed()
        except OSError:
            pass


# --- a client process -----------------------------------------------------------------------------


@dataclass
class ClientPlan:
    client: int
    ports: list[int]  # call i goes to ports[i % len(ports)]: one per replica
    indices: list[int]
    n_total: int
    hold: float
    ramp: float
    interval: float
    timeout: float
    read_timeout: float | None = None  # --burst: every read, the headers included


@dataclass
class ClientReport:
    client: int
    calls: list[Call]
    lag_p50: float
    lag_p99: float
    lag_max: float
    lag_max_at: float  # seconds after the start of the load
    session_seconds: float
    error: str = ""


async def _ticker(lags: list[tuple[float, float]], origin: float, stop: asyncio.Event) -> None:
    while not stop.is_set():
        start = time.monotonic()
        await asyncio.sleep(TICK)
        lags.append((max(0.0, time.monotonic() - start - TICK), start - origin))


async def _create_sessions(port: int, count: int) -> list[str]:
    """Sessions made on one server; replicas share them through their database."""
    connector = aiohttp.TCPConnector(limit=16)
    timeout = aiohttp.ClientTimeout(total=120)
    async with aiohttp.ClientSession(f"http://{HOST}:{port}", connector=connector, timeout=timeout) as http:

        async def one() -> str:
            async with http.post("/session", json={}) as response:
                response.raise_for_status()
                return str((await response.json())["id"])

        return list(await asyncio.gather(*(one() for _ in range(count))))


async def _client(plan: ClientPlan, ready: Any, go: MpEvent, start_at: Any) -> ClientReport:
    began = time.monotonic()
    sessions = await _create_sessions(plan.ports[0], len(plan.indices))
    session_seconds = time.monotonic() - began
    ready.put(plan.client)
    await asyncio.to_thread(go.wait)
    origin = float(start_at.value)
    lags: list[tuple[float, float]] = []
    stop = asyncio.Event()
    ticker = asyncio.create_task(_ticker(lags, origin, stop))
    silence = plan.read_timeout or max(30.0, 10 * plan.interval)

    async def launch(call: Call, session: str) -> Call:
        if plan.ramp:
            await asyncio.sleep(max(0.0, origin + plan.ramp * call.index / plan.n_total - time.monotonic()))
        else:  # a burst: every call opens now, as fast as this process can
            await asyncio.sleep(max(0.0, origin - time.monotonic()))
        try:
            port = plan.ports[call.index % len(plan.ports)]
            attempt = held_call(port, session, call, plan.hold, silence, plan.read_timeout)
            await asyncio.wait_for(attempt, plan.timeout)
        except TimeoutError:
            call.error = call.error or f"no complete answer within {plan.timeout:g} s"
            call.ended = call.ended or time.monotonic()
        return call

    calls = await asyncio.gather(*(launch(Call(i), s) for i, s in zip(plan.indices, sessions, strict=True)))
    stop.set()
    await ticker
    values = sorted(lag for lag, _ in lags) or [0.0]
    worst = max(lags, default=(0.0, 0.0))
    return ClientReport(plan.client, list(calls), pct(values, 50), pct(values, 99), worst[0], worst[1],
                        session_seconds)


def client_main(plan: ClientPlan, ready: Any, results: Any, go: MpEvent, start_at: Any) -> None:
    raise_nofile()
    try:
        report = asyncio.run(_client(plan, ready, go, start_at))
    except BaseException as exc:
        report = ClientReport(plan.client, [], 0, 0, 0, 0, 0, error=f"{type(exc).__name__}: {exc}")
        ready.put(plan.client)
    results.put(report)


# --- the server and the fake, observed from outside -----------------------------------------------


def pct(values: list[float], p: float) -> float:
    """Nearest-rank percentile of sorted values."""
    if not values:
        return 0.0
    return values[min(len(values) - 1, max(0, int(len(values) * p / 100 + 0.5) - 1))]


def machine_busy_seconds() -> float:
    """CPU seconds all cores spent busy since boot (/proc/stat: everything but idle and iowait)."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return (sum(fields) - fields[3] - fields[4]) / os.sysconf("SC_CLK_TCK")


def tree_cpu_seconds(pids: list[int]) -> float:
    """utime + stime of these processes and their reaped children."""
    total = 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
        except OSError:
            continue
        total += sum(int(x) for x in fields[11:15]) / os.sysconf("SC_CLK_TCK")
    return total


def database_cpu_seconds(cluster: Cluster | None) -> float:
    """utime + stime of the PostgreSQL server and its live backends (0 without one)."""
    if cluster is None:
        return 0.0
    postmaster = int((cluster.data / "postmaster.pid").read_text().split()[0])
    total = 0.0
    for proc in processes():
        if proc.pid == postmaster or proc.ppid == postmaster:
            try:
                total += cpu_seconds(proc.pid)
            except OSError:
                continue
    return total


def open_fds(pid: int) -> int:
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return 0


@dataclass
class Sample:
    t: float
    cpu: float
    rss: int
    fds: int


@dataclass
class Result:
    n: int
    replicas: int
    database: str
    transport: str
    clients: int
    hold: float
    ramp: float
    interval: float
    burst: bool
    failures: int
    failure_examples: list[str]
    failure_kinds: dict[str, int]
    gaps: int
    late_p50: float
    late_p99: float
    late_max: float
    late_over_interval: int
    headers_p50: float
    headers_p99: float
    headers_max: float
    headers_over_5s: int  # calls whose headers took longer than httpx's default 5 s read timeout
    peak_concurrent: int
    accepted_per_s: float  # N / (last headers received - first call sent)
    accept_cpu_ms: float  # server CPU from the first call sent to the last headers, per call
    wall: float
    server_cpu: float
    server_cpu_pct: float
    steady_cpu_pct: float | None
    fake_cpu: float
    db_cpu: float
    others_cpu_pct: float  # busy CPU of everything else on the machine, in % of one core
    rss_base_mib: float
    rss_peak_mib: float
    kib_per_call: float  # before the first answer, per call held by then
    kib_per_call_peak: float  # the peak over the whole run, per call
    fds_peak: int
    llm_request_bytes: int
    to_llm_p50: float
    to_llm_p99: float
    to_llm_max: float
    client_lag: list[dict[str, float]]
    session_seconds: float

    @property
    def goal_met(self) -> bool:
        headers_ok = not self.burst or self.headers_p99 < 1.0
        return self.failures == 0 and self.late_p99 < self.interval and headers_ok


def cpu_at(samples: list[Sample], t: float) -> float:
    """The server's CPU seconds at time `t`, interpolated between the samples around it."""
    before = [s for s in samples if s.t <= t]
    after = [s for s in samples if s.t > t]
    if not before or not after:
        return (before or after)[-1 if before else 0].cpu if samples else 0.0
    a, b = before[-1], after[0]
    return a.cpu + (b.cpu - a.cpu) * (t - a.t) / (b.t - a.t)


def peak_overlap(intervals: list[tuple[float, float]]) -> int:
    events = sorted([(a, 1) for a, _ in intervals] + [(b, -1) for _, b in intervals])
    best = now = 0
    for _, step in events:
        now += step
        best = max(best, now)
    return best


def run_one(n: int, opts: argparse.Namespace) -> Result:
    ctx = mp.get_context("spawn")
    fake, url = spawn(str(ROOT / "bench" / "quiet_fakellm.py"), start_new_session=True)
    work = Path(tempfile.mkdtemp(prefix=f"held-{n}-"))
    project, data = work / "project", work / "data"
    project.mkdir()
    data.mkdir()
    write_project_config(project, url)
    env = {
        "WAKEFUL_KEEPALIVE_INTERVAL": f"{opts.interval:g}",
        "WAKEFUL_LLM_TRANSPORT": opts.transport,
        "WAKEFUL_LLM_MAX_CONNECTIONS": str(max(10_000, n + 100)),
        "WAKEFUL_PROVIDER_SILENCE": str(opts.hold + 120),
        "WAKEFUL_DRAIN_TIMEOUT": "5",
        # production values, not the test servers' (tests/support/server.py TIMINGS)
        "WAKEFUL_CONFIG_FRESHNESS": "1",
        "WAKEFUL_PART_FLUSH_INTERVAL": "0.5",
        **dict(item.split("=", 1) for item in opts.server_env),
    }
    if opts.probe:
        env["WAKEFUL_BENCH_PROBE"] = str(opts.probe.resolve())
    if opts.gc:
        env["WAKEFUL_BENCH_GC"] = opts.gc
    if opts.slow_callback:
        env["WAKEFUL_BENCH_SLOW"] = str(opts.slow_callback)
    if opts.tracemalloc:
        opts.tracemalloc.mkdir(parents=True, exist_ok=True)
        for old in opts.tracemalloc.glob("snapshot-*.tracemalloc"):
            old.unlink()
        env["WAKEFUL_BENCH_TRACEMALLOC"] = str(opts.tracemalloc.resolve())
    if opts.probe or opts.gc or opts.slow_callback or opts.tracemalloc:
        env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "bench" / "loopprobe"), os.environ.get("PYTHONPATH", "")])
    database: Cluster | None = None
    servers: list[WakefulProcess] = []
    procs: list[Any] = []
    try:
        args: list[str] = []
        if opts.replicas > 1 or opts.postgres:
            bin_dir = binaries()
            if bin_dir is None:
                raise RuntimeError("PostgreSQL is not installed: run scripts/ensure-system.sh test")
            database = Cluster(bin_dir).__enter__()
            args = ["--database-url", database.url]
        servers = [WakefulProcess(data / f"server-{k}", project, env=env, args=args) for k in range(opts.replicas)]
        for server in servers:  # one after the other: the first one migrates the database
            server.start()
        pids = [server.proc.pid for server in servers if server.proc]
        pid = pids[0]
        print(f"N={n}: server pids {pids} at {[s.url for s in servers]}, fake LLM pid {fake.pid} at {url}",
              file=sys.stderr)
        control = url.removesuffix("/v1") + "/_control"
        for server in servers:  # one call each: warm every cache
            with httpx.Client(base_url=server.url, timeout=60) as http:
                sid = http.post("/session", json={}).json()["id"]
                text = {"parts": [{"type": "text", "text": "REPLY warm"}]}
                http.post(f"/session/{sid}/message", json=text).raise_for_status()
        last = httpx.get(f"{control}/requests").json()
        llm_request_bytes = len(json.dumps(last[-1]["body"])) if last else 0
        httpx.post(f"{control}/reset")
        ready, results, go, start_at = ctx.Queue(), ctx.Queue(), ctx.Event(), ctx.Value("d", 0.0)
        ports = [int(server.url.rsplit(":", 1)[1]) for server in servers]
        timeout = opts.call_timeout or opts.hold + opts.ramp + 120 + 0.06 * n
        for c in range(opts.clients):
            plan = ClientPlan(c, ports, list(range(c, n, opts.clients)), n, opts.hold, opts.ramp,
                              opts.interval, timeout, opts.read_timeout if opts.burst else None)
            proc = ctx.Process(target=client_main, args=(plan, ready, results, go, start_at), daemon=True)
            proc.start()
            procs.append(proc)
        for _ in procs:
            ready.get(timeout=600)
        time.sleep(1.0)  # let the session burst settle before the baseline
        base_rss = sum(rss_kib(p) for p in pids)
        default_cap = ServerConfig.model_fields["max_running_runs"].default
        running_cap = int(env.get("WAKEFUL_MAX_RUNNING_RUNS", default_cap))  # the rest wait queued
        traced_at: float | None = None
        if opts.tracemalloc:
            os.kill(pid, signal.SIGUSR1)  # snapshot 1: the baseline
        start_cpu, fake_cpu0 = sum(cpu_seconds(p) for p in pids), cpu_seconds(fake.pid)
        db_cpu0 = database_cpu_seconds(database)
        ours = [*pids, fake.pid, os.getpid(), *(p.pid for p in procs)]
        busy0, ours0, wall0 = machine_busy_seconds(), tree_cpu_seconds(ours), time.monotonic()
        spy = None
        if opts.profile:  # py-spy (PyPI) samples the server from outside, from the start of the load
            spy = subprocess.Popen([str(Path(sys.executable).parent / "py-spy"), "record", "--pid", str(pid),
                                    "--format", "raw", "--rate", "100", "--nonblocking", "--output", str(opts.profile)],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(1.0)
        start_at.value = time.monotonic() + 0.5
        go.set()
        samples: list[Sample] = []
        reports: list[ClientReport] = []
        next_fd = 0.0
        while len(reports) < len(procs):
            now = time.monotonic()
            fds = 0
            if now >= next_fd:
                fds, next_fd = sum(open_fds(p) for p in pids), now + 1.0
            samples.append(Sample(now, sum(cpu_seconds(p) for p in pids), sum(rss_kib(p) for p in pids), fds))
            if opts.tracemalloc and traced_at is None and fds and len(
                    httpx.get(f"{control}/requests", timeout=60).json()) >= min(n, running_cap):
                traced_at = now  # every run that may execute has its LLM request out: all N calls are held
                time.sleep(2.0)
                os.kill(pid, signal.SIGUSR1)  # snapshot 2: N held calls
            try:
                reports.append(results.get(timeout=0.05))  # CPU sampled often enough to time acceptance
            except queue.Empty:
                reported = {r.client for r in reports}
                dead = [c for c, p in enumerate(procs) if c not in reported and not p.is_alive()]
                if dead:
                    try:  # its report may still be in the pipe
                        reports.append(results.get(timeout=5.0))
                    except queue.Empty:
                        raise RuntimeError(f"client process {dead[0]} died without a report") from None
        end_cpu, fake_cpu1 = sum(cpu_seconds(p) for p in pids), cpu_seconds(fake.pid)
        if opts.tracemalloc and traced_at is not None:
            os.kill(pid, signal.SIGUSR1)  # snapshot 3: every call answered (what the runs left behind)
        db_cpu = database_cpu_seconds(database) - db_cpu0
        if spy is not None:
            spy.send_signal(signal.SIGINT)
            spy.wait(60)
        others = (machine_busy_seconds() - busy0) - (tree_cpu_seconds(ours) - ours0) - db_cpu
        others_pct = 100 * max(0.0, others) / (time.monotonic() - wall0)
        origin = float(start_at.value)
        # the fake stamps arrivals with time.time(); the bench measures with time.monotonic()
        offset = time.time() - time.monotonic()
        arrivals = {
            r["script"].rpartition("REPLY ok ")[2]: r["time"] - offset
            for r in httpx.get(f"{control}/requests", timeout=60).json()
        }
        if opts.tracemalloc:
            print_tracemalloc(opts.tracemalloc, n)
        return summarize(n, opts, reports, samples, origin, base_rss, end_cpu - start_cpu,
                         fake_cpu1 - fake_cpu0, db_cpu, others_pct, llm_request_bytes, arrivals)
    finally:
        for proc in procs:
            proc.join(10)
            if proc.is_alive():
                proc.kill()
        for server in servers:
            server.stop()
            if server.proc is not None and server.proc.returncode not in (0, None):
                print("".join(server.output[-40:]), file=sys.stderr)
        if opts.server_log:
            opts.server_log.write_text("".join(line for server in servers for line in server.output))
        if database is not None:
            database.__exit__(None, None, None)
        fake.terminate()
        try:
            fake.wait(10)
        except subprocess.TimeoutExpired:
            fake.kill()
        shutil.rmtree(work, ignore_errors=True)


def summarize(n: int, opts: argparse.Namespace, reports: list[ClientReport], samples: list[Sample],
              origin: float, base_rss: int, server_cpu: float, fake_cpu: float, db_cpu: float,
              others_cpu_pct: float, llm_request_bytes: int, arrivals: dict[str, float]) -> Result:
    calls = [c for r in reports for c in r.calls]
    broken = [r.error for r in reports if r.error]
    failed = [c for c in calls if not c.ok]
    one_per_kind: dict[str, Call] = {}
    for c in failed:
        one_per_kind.setdefault(c.error.split(":")[0], c)
    examples = broken + [f"call {c.index}: {c.error}" for c in one_per_kind.values()]
    failures = len(failed) + (n - len(calls))
    late = sorted(g - opts.interval for c in calls for g in c.gaps)
    to_headers = sorted(c.headers - c.sent for c in calls if c.headers)
    held = [(c.headers, c.ended) for c in calls if c.headers and c.ended]
    wall = max((c.ended for c in calls), default=origin) - origin
    to_llm = sorted(arrivals[str(c.index)] - c.sent for c in calls if str(c.index) in arrivals and c.sent)
    # the steady hold: from the last LLM request to the first answer, every call held, nothing started
    steady_from = max([c.headers for c in calls if c.headers] + list(arrivals.values()), default=0.0)
    steady_to = min((c.ended for c in calls if c.ended), default=0.0)
    steady = [s for s in samples if steady_from <= s.t <= steady_to]
    steady_pct = None
    if len(steady) >= 2 and steady[-1].t - steady[0].t >= 2.0:
        steady_pct = 100 * (steady[-1].cpu - steady[0].cpu) / (steady[-1].t - steady[0].t)
    peak_rss = max((s.rss for s in samples), default=base_rss)
    # What the held calls keep: the memory before the first answer, over the calls held by then.
    # Later, finished runs fill the server's bounded caches (event replay, message history), which
    # the peak over the whole run counts too.
    first_answer = min((c.ended for c in calls if c.ended), default=float("inf"))
    held_by_then = sum(1 for c in calls if c.headers and c.headers < first_answer)
    held_rss = max((s.rss for s in samples if s.t < first_answer), default=base_rss)
    first_sent = min((c.sent for c in calls if c.sent), default=origin)
    last_headers = max((c.headers for c in calls if c.headers), default=first_sent)
    accepting = last_headers - first_sent
    accept_cpu = cpu_at(samples, last_headers) - cpu_at(samples, first_sent)
    return Result(
        n=n, replicas=opts.replicas, database="postgresql" if opts.replicas > 1 or opts.postgres else "sqlite",
        transport=opts.transport, clients=opts.clients, hold=opts.hold, ramp=opts.ramp,
        interval=opts.interval, burst=opts.burst, failures=failures, failure_examples=examples,
        failure_kinds=dict(Counter(c.error.split(":")[0] for c in failed)), gaps=len(late),
        late_p50=pct(late, 50), late_p99=pct(late, 99), late_max=late[-1] if late else 0.0,
        late_over_interval=sum(1 for x in late if x >= opts.interval),
        headers_p50=pct(to_headers, 50), headers_p99=pct(to_headers, 99),
        headers_max=to_headers[-1] if to_headers else 0.0,
        headers_over_5s=sum(1 for x in to_headers if x > 5.0),
        peak_concurrent=peak_overlap(held), accepted_per_s=len(to_headers) / accepting if accepting > 0 else 0.0,
        accept_cpu_ms=1000 * accept_cpu / max(1, len(to_headers)),
        wall=wall, server_cpu=server_cpu,
        server_cpu_pct=100 * server_cpu / wall if wall > 0 else 0.0, steady_cpu_pct=steady_pct,
        fake_cpu=fake_cpu, db_cpu=db_cpu, others_cpu_pct=others_cpu_pct, rss_base_mib=base_rss / 1024, rss_peak_mib=peak_rss / 1024,
        kib_per_call=(held_rss - base_rss) / max(1, held_by_then), kib_per_call_peak=(peak_rss - base_rss) / n,
        fds_peak=max((s.fds for s in samples), default=0),
        llm_request_bytes=llm_request_bytes,
        to_llm_p50=pct(to_llm, 50), to_llm_p99=pct(to_llm, 99), to_llm_max=to_llm[-1] if to_llm else 0.0,
        client_lag=[{"client": r.client, "p50": r.lag_p50, "p99": r.lag_p99, "max": r.lag_max,
                     "max_at": r.lag_max_at} for r in sorted(reports, key=lambda r: r.client)],
        session_seconds=max((r.session_seconds for r in reports), default=0.0),
    )


def print_tracemalloc(directory: Path, n: int) -> None:
    import tracemalloc

    paths = [directory / f"snapshot-{k}.tracemalloc" for k in (1, 2)]
    for _ in range(50):  # the server writes snapshot 2 from its signal handler
        if all(p.exists() for p in paths):
            break
        time.sleep(0.2)
    if not all(p.exists() for p in paths):
        print("tracemalloc: the second snapshot is missing (were all calls held at once?)", file=sys.stderr)
        return
    base, held = (tracemalloc.Snapshot.load(str(p)) for p in paths)
    diffs = held.compare_to(base, "filename")
    total = sum(d.size_diff for d in diffs)
    print(f"  tracemalloc: Python allocations grew {total / 1024 / 1024:.1f} MiB = "
          f"{total / 1024 / n:.1f} KiB per held call; by file (KiB per call):")
    for d in sorted(diffs, key=lambda d: -d.size_diff)[:15]:
        name = d.traceback[0].filename
        short = name.split("site-packages/")[-1].split("/src/")[-1].split("/lib/python3")[-1]
        print(f"    {d.size_diff / 1024 / n:7.2f}  {d.count_diff / n:6.1f} blocks  {short}")


def print_result(r: Result) -> None:
    steady = f"{r.steady_cpu_pct:.1f} %" if r.steady_cpu_pct is not None else "n/a (no 2 s window)"
    lags = ", ".join(f"c{x['client']} p99 {x['p99'] * 1000:.0f} ms / max {x['max'] * 1000:.0f} ms "
                     f"at {x['max_at']:.1f} s" for x in r.client_lag)
    mode = " burst" if r.burst else ""
    print(f"\nN={r.n}{mode} replicas={r.replicas} ({r.database}) transport={r.transport} clients={r.clients} "
          f"hold={r.hold:g}s ramp={r.ramp:g}s interval={r.interval:g}s -> "
          f"{'GOAL MET' if r.goal_met else 'GOAL MISSED'}")
    kinds = ", ".join(f"{k}: {v}" for k, v in sorted(r.failure_kinds.items()))
    print(f"  failures            {r.failures}" + (f" ({kinds})" if kinds else ""))
    for example in r.failure_examples[:5]:
        print(f"    {example}")
    print(f"  keep-alive lateness p50 {r.late_p50 * 1000:.1f} ms  p99 {r.late_p99 * 1000:.1f} ms  "
          f"max {r.late_max * 1000:.1f} ms  ({r.gaps} gaps, {r.late_over_interval} >= 1 interval late)")
    print(f"  time to headers     p50 {r.headers_p50 * 1000:.1f} ms  p99 {r.headers_p99 * 1000:.1f} ms  "
          f"max {r.headers_max * 1000:.1f} ms  ({r.headers_over_5s} over 5 s)")
    print(f"  accepted            {r.accepted_per_s:.0f} calls/s (N / first call sent -> last headers); "
          f"server CPU meanwhile {r.accept_cpu_ms:.2f} ms per call")
    print(f"  time to LLM request p50 {r.to_llm_p50 * 1000:.1f} ms  p99 {r.to_llm_p99 * 1000:.1f} ms  "
          f"max {r.to_llm_max * 1000:.1f} ms")
    print(f"  peak concurrent     {r.peak_concurrent}  (wall {r.wall:.1f} s, sessions made in "
          f"{r.session_seconds:.1f} s)")
    print(f"  server CPU          {r.server_cpu:.1f} s = {r.server_cpu_pct:.1f} % of a core over the run; "
          f"steady hold {steady}; fake LLM {r.fake_cpu:.1f} s; PostgreSQL {r.db_cpu:.1f} s")
    print(f"  other load          {r.others_cpu_pct:.0f} % of a core used by processes outside this benchmark")
    print(f"  server memory       {r.kib_per_call:.1f} KiB per held call before the first answer (floor "
          f"~{FLOOR_KIB} KiB); {r.rss_base_mib:.0f} MiB -> peak {r.rss_peak_mib:.0f} MiB over the run = "
          f"{r.kib_per_call_peak:.1f} KiB per call; peak fds {r.fds_peak}; "
          f"one LLM request = {r.llm_request_bytes / 1024:.1f} KiB of JSON")
    print(f"  client loop lag     {lags}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, nargs="+", default=[100, 1000], help="held calls per run")
    parser.add_argument("--clients", type=int, default=2, help="client processes")
    parser.add_argument("--hold", type=float, default=20.0, help="seconds the LLM waits before answering")
    parser.add_argument("--ramp", type=float, default=None,
                        help="seconds over which the calls start (default N/1000, at most hold/2)")
    parser.add_argument("--call-timeout", type=float, default=None,
                        help="seconds a client waits for one complete answer (default hold + ramp + 120 + 0.06 N)")
    parser.add_argument("--interval", type=float, default=1.0, help="server keep-alive interval, seconds")
    parser.add_argument("--transport", choices=["aiohttp", "httpx"], default="aiohttp")
    parser.add_argument("--server-env", action="append", default=[], metavar="NAME=VALUE",
                        help="extra environment for the server (diagnostics), repeatable")
    parser.add_argument("--server-log", type=Path, help="write the server's output to this file")
    parser.add_argument("--probe", type=Path,
                        help="diagnostics: record the server's own event-loop lag (> 20 ms) to this file")
    parser.add_argument("--slow-callback", type=float, metavar="SECONDS",
                        help="with --probe: loop debug mode, log callbacks longer than this (see --server-log)")
    parser.add_argument("--gc", default="", metavar="SPEC",
                        help='with --probe: "freeze" and/or "threshold=A,B,C" (";"-separated), see loopprobe')
    parser.add_argument("--tracemalloc", type=Path, metavar="DIR",
                        help="diagnostics (slow): where the server's Python memory per held call goes")
    parser.add_argument("--profile", type=Path, metavar="FILE",
                        help="diagnostics: py-spy's collapsed stacks of the server during the load")
    parser.add_argument("--json", type=Path, help="append each result as one JSON line to this file")
    parser.add_argument("--smoke", action="store_true", help="N=50, hold 5 s: a quick pass/fail check")
    parser.add_argument("--burst", action="store_true",
                        help="every call at once (ramp 0), each read bounded by --read-timeout")
    parser.add_argument("--read-timeout", type=float, default=3.0,
                        help="with --burst: a client's read timeout, seconds (headers included)")
    parser.add_argument("--replicas", type=int, default=1,
                        help="servers on one throwaway PostgreSQL cluster, the calls spread over them")
    parser.add_argument("--postgres", action="store_true", help="one server on PostgreSQL instead of SQLite")
    opts = parser.parse_args()
    if opts.burst:
        opts.ramp = 0.0
    if opts.replicas > 1 and opts.tracemalloc:
        parser.error("--tracemalloc needs a single server")
    if opts.smoke:
        opts.n, opts.hold = [50], 5.0
    limit = raise_nofile(2 * max(opts.n) + 4096)[0]
    if limit < 2 * max(opts.n) + 1024:
        print(f"error: the open-file limit is {limit}; {max(opts.n)} held calls need about "
              f"{2 * max(opts.n) + 1024} in the server (a socket to the client and one to the LLM per call). "
              f"At most N = {(limit - 1024) // 2} fits. Raise the hard limit (`ulimit -Hn`, needs "
              f"CAP_SYS_RESOURCE) or use a smaller N.", file=sys.stderr)
        return 2
    missed = False
    for n in opts.n:
        run_opts = argparse.Namespace(**vars(opts))
        if opts.burst:
            run_opts.ramp = 0.0
        elif run_opts.ramp is None:
            run_opts.ramp = min(n / 1000, opts.hold / 2)
        result = run_one(n, run_opts)
        print_result(result)
        missed |= not result.goal_met
        if opts.json:
            with opts.json.open("a") as out:
                out.write(json.dumps({**asdict(result), "goal_met": result.goal_met}) + "\n")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
