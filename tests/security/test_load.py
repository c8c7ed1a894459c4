"""Load: several Beaker sessions executing at once; no reply is lost.

``BEAKER_LOAD_SESSIONS`` sessions (default 8), each with its own websocket and thread,
run ``BEAKER_LOAD_EXECUTES`` cells (default 200) one after the other, all sessions at the
same time. Every reply must come back with the cell's own output.
"""

from __future__ import annotations

import statistics
import threading
import time
from typing import Any

import pytest

from .conftest import Service, setting

pytestmark = pytest.mark.security


def test_sessions_in_parallel_lose_no_reply(service: Service, figures: dict[str, Any]) -> None:
    sessions = setting("BEAKER_LOAD_SESSIONS", 8)
    executes = setting("BEAKER_LOAD_EXECUTES", 200)
    service.kernels_timeout = 30 + 15 * sessions
    start = time.monotonic()
    beaker_ids = [service.start_beaker() for _ in range(sessions)]
    # (the server reports "starting" until a client talks to a kernel, as for any kernel)
    service.wait_for_kernels(lambda ks: len(ks) == 2 * sessions)
    sockets = [service.connect(kernel_id) for kernel_id in beaker_ids]
    # the first cell of each session waits for its subkernel
    for ws in sockets:
        ws.execute("pass", timeout=120)
    started = time.monotonic() - start

    latencies: list[float] = []
    lost: list[str] = []
    wrong: list[str] = []
    lock = threading.Lock()

    def run(index: int) -> None:
        ws = sockets[index]
        for n in range(executes):
            sent = time.monotonic()
            try:
                reply, stdout = ws.execute(f"print({index} * 100000 + {n})", timeout=60)
            except TimeoutError as e:
                with lock:
                    lost.append(f"session {index} cell {n}: {e}")
                continue
            with lock:
                latencies.append(time.monotonic() - sent)
                if reply["content"]["status"] != "ok" or stdout != f"{index * 100000 + n}\n":
                    wrong.append(f"session {index} cell {n}: {reply['content']} {stdout!r}")

    threads = [threading.Thread(target=run, args=(i,)) for i in range(sessions)]
    begin = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - begin
    for ws in sockets:
        ws.close()
    for kernel_id in beaker_ids:
        assert service.http("DELETE", f"/api/kernels/{kernel_id}").status == 204
    service.wait_for_kernels(lambda ks: ks == [])

    latencies.sort()
    figures.update(
        sessions=sessions,
        executes=sessions * executes,
        answered=len(latencies),
        lost_replies=len(lost),
        wrong=len(wrong),
        start_seconds=round(started, 1),
        seconds=round(elapsed, 1),
        per_second=round(len(latencies) / elapsed, 1),
        median_ms=round(1000 * statistics.median(latencies), 1) if latencies else None,
        p95_ms=round(1000 * latencies[int(0.95 * (len(latencies) - 1))], 1) if latencies else None,
    )
    print(f"\nload: {figures}")
    assert lost == []
    assert wrong == []
    assert len(latencies) == sessions * executes
