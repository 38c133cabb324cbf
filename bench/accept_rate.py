"""How fast an event loop takes connections off the listen queue while it is busy.

A server holding thousands of calls has a busy loop: every turn runs many callbacks. Here 50 tasks
each spin 2 ms per turn (a turn of ~100 ms) while another process opens N connections at once; the
report is how many the server has accepted after each second, for asyncio's loop and for uvloop.
wakeful serves on asyncio's loop because of the difference (docs/benchmarks.md, issue 18).

    .venv/bin/python bench/accept_rate.py [--n 3000] [--seconds 10]
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import socket
import time
from collections.abc import Callable, Coroutine
from typing import Any


def _busy(ms: float) -> None:
    end = time.perf_counter() + ms / 1000
    while time.perf_counter() < end:
        pass


async def _serve(port_out: Any, seconds: float, counts: list[int]) -> None:
    accepted = 0

    class Counting(asyncio.Protocol):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            nonlocal accepted
            accepted += 1

    async def spinner() -> None:
        while True:
            _busy(2)
            await asyncio.sleep(0)

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16_384)
    sock.setblocking(False)
    server = await asyncio.get_running_loop().create_server(Counting, sock=sock, backlog=16_384)
    spinners = [asyncio.create_task(spinner()) for _ in range(50)]
    port_out.send(sock.getsockname()[1])
    for _ in range(int(seconds)):
        await asyncio.sleep(1)
        counts.append(accepted)
    for task in spinners:
        task.cancel()
    server.close()


def _server(kind: str, port_out: Any, seconds: float, result: Any) -> None:
    counts: list[int] = []
    run: Callable[[Coroutine[Any, Any, None]], None]
    if kind == "uvloop":
        import uvloop

        run = uvloop.run
    else:
        run = asyncio.run
    run(_serve(port_out, seconds, counts))
    result.send(counts)


def _connect(port: int, n: int, seconds: float) -> None:
    held = []
    for _ in range(n):
        s = socket.socket()
        s.setblocking(False)
        try:
            s.connect(("127.0.0.1", port))
        except BlockingIOError:
            pass
        held.append(s)
    time.sleep(seconds + 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=3000, help="connections opened at once")
    parser.add_argument("--seconds", type=float, default=10.0)
    opts = parser.parse_args()
    for kind in ("asyncio", "uvloop"):
        port_recv, port_send = multiprocessing.Pipe(duplex=False)
        result_recv, result_send = multiprocessing.Pipe(duplex=False)
        server = multiprocessing.Process(target=_server, args=(kind, port_send, opts.seconds, result_send))
        server.start()
        client = multiprocessing.Process(target=_connect, args=(port_recv.recv(), opts.n, opts.seconds))
        client.start()
        counts = result_recv.recv()
        server.join()
        client.join()
        print(f"{kind:8} accepted after each second: {counts}")


if __name__ == "__main__":
    main()
