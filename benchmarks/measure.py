"""The measurements. Each takes a running :class:`~.harness.Server` and returns plain
JSON-ready dicts; the plain ipykernel and the Beaker kernel are measured in the same run,
interleaved where that is possible, so that load from other processes hits both alike."""

from __future__ import annotations

import contextlib
import statistics
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import psutil

from . import floor
from .harness import MIB, Server, Session

PLAIN = "python3"
PLAIN_R = "ir"
BEAKER = "beaker_kernel"

#: Environment of the server: its Beaker kernels (kernelspec ``beaker_kernel``) start
#: without a default context, so they are the pure proxy. Variables of the harness's own
#: shell that would change that are removed.
SERVER_ENV: dict[str, str | None] = {
    "BEAKER_DEFAULT_CONTEXT": "none",
    "BEAKER_DEFAULT_CONTEXT_LANGUAGE": "python3",
    "BEAKER_DEFAULT_CONTEXT_PAYLOAD": None,
    "BEAKER_SUBKERNEL": None,
}

#: Kernelspecs the harness adds to the server: ``beaker_kernel`` with another environment.
#: ``beaker_bench_context`` is a Beaker kernel as ``beaker serve`` starts it out of the box
#: (the ``default`` context set up at start, post-execute after every cell).
VARIANTS: dict[str, dict[str, str]] = {
    "beaker_bench_context": {
        "BEAKER_DEFAULT_CONTEXT": "default",
        "BEAKER_DEFAULT_CONTEXT_LANGUAGE": "python3",
    },
    "beaker_bench_r": {
        "BEAKER_DEFAULT_CONTEXT": "none",
        "BEAKER_DEFAULT_CONTEXT_LANGUAGE": "rlang",
    },
    "beaker_bench_r_context": {
        "BEAKER_DEFAULT_CONTEXT": "default",
        "BEAKER_DEFAULT_CONTEXT_LANGUAGE": "rlang",
    },
}

#: The sessions of a run: label → (kernelspec, context slug it must report, language).
KERNELS: dict[str, tuple[str, str, str]] = {
    "plain": (PLAIN, "", "python"),
    "beaker": (BEAKER, "NONE", "python"),
    "beaker_context": ("beaker_bench_context", "default", "python3"),
    "plain_r": (PLAIN_R, "", "R"),
    "beaker_r": ("beaker_bench_r", "NONE", "R"),
    "beaker_r_context": ("beaker_bench_r_context", "default", "rlang"),
}
PYTHON_LABELS = ("plain", "beaker", "beaker_context")
#: The floor of any proxy process (see :mod:`.floor`), measured in the round trips.
FLOOR = "floor"
KERNELS[FLOOR] = (floor.NAME, "", "python")
#: The floor of a proxy relaying shell, control and stdin in Python (iopub in C), as Beaker.
FLOOR_PYTHON = "floor_python"
KERNELS[FLOOR_PYTHON] = (floor.PYTHON_NAME, "", "python")
FLOORS = (FLOOR, FLOOR_PYTHON)
R_LABELS = ("plain_r", "beaker_r", "beaker_r_context")
#: R's ``pass``: runs, and shows nothing.
R_NOTHING = "invisible(NULL)"

#: A cell printing 10 MiB in 1 KiB lines (each line 1023 characters and a newline).
STREAM_CODE = "for _ in range(10240):\n    print('x' * 1023)\n"
STREAM_CHARS = 10240 * 1024


@dataclass
class Options:
    requests: int = 200
    settle: float = 0.15
    cold_starts: int = 6
    stream_runs: int = 3
    switches: int = 10
    cross_switches: int = 2
    idle_sessions: int = 100
    #: memory kept free when deciding how many idle sessions fit (MiB)
    memory_reserve_mib: float = 3072
    quickack: bool = True
    #: The websocket protocol of every session (see :data:`.harness.PROTOCOLS`).
    protocol: str = "v1"
    #: Also measure :data:`FLOOR_PYTHON` in the round trips (``--python-floor``).
    python_floor: bool = False


def summary(samples: list[float]) -> dict[str, Any]:
    """Median, p95, min and count of ``samples`` (seconds) in milliseconds."""
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return {
        "median_ms": statistics.median(ordered) * 1000,
        "p95_ms": p95 * 1000,
        "min_ms": ordered[0] * 1000,
        "n": len(ordered),
    }


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", flush=True)


# --------------------------------------------------------------------------- cold start


def open_checked(
    server: Server, label: str, options: Options, *, timeout: float = 180.0, retries: int = 0
) -> tuple[Session, float]:
    """Open the session of ``label`` (see :data:`KERNELS`); its cold start in seconds.

    A kernel that does not answer its first request within ``timeout`` seconds is deleted
    and (``retries`` times) replaced by a new one; the server counts it
    (:attr:`Server.unanswered`). Fails unless a Beaker kernel reports the context and
    language its kernelspec asks for, so a setting that did not reach the kernel cannot
    pass unnoticed.
    """
    kernelspec, slug, language = KERNELS[label]
    for attempt in range(retries + 1):
        try:
            session, seconds = Session.open(
                server,
                kernelspec,
                quickack=options.quickack,
                timeout=timeout,
                protocol=options.protocol,
            )
            break
        except TimeoutError as e:
            if attempt == retries:
                raise
            log(f"{e}; starting another")
    if slug:
        try:
            found = session.context()
        except Exception:
            session.close()
            raise
        if found != (slug, language):
            session.close()
            raise RuntimeError(
                f"{kernelspec} reports context {found[0]!r} in {found[1]!r}, expected "
                f"{slug!r} in {language!r}: BEAKER_DEFAULT_CONTEXT did not reach the kernel"
            )
    return session, seconds


def cold_start(server: Server, options: Options, labels: tuple[str, ...]) -> dict[str, Any]:
    """``POST /api/kernels`` → first ``execute_reply``; the kernels take turns in a
    rotating order, so that none always follows another one's shutdown. A kernel that
    never answers is counted by the server and left out of the samples."""
    samples: dict[str, list[float]] = {label: [] for label in labels}
    for run in range(options.cold_starts):
        shift = run % len(labels)
        for label in labels[shift:] + labels[:shift]:
            try:
                session, seconds = open_checked(server, label, options, timeout=60)
            except TimeoutError as e:
                log(str(e))
                continue
            samples[label].append(seconds)
            session.close()
            time.sleep(1.5)  # let the stopped kernels' processes go
    return {label: summary(values) if values else None for label, values in samples.items()}


# --------------------------------------------------------------------------- round trips


def round_trips(
    sessions: dict[str, Session], options: Options, *, block: int = 20, code: str = "pass"
) -> dict[str, Any]:
    """Execute ``code`` (a statement doing nothing and showing nothing) ``options.requests``
    times per session, settled (a pause before each request) and back-to-back, in blocks
    alternating between the sessions."""
    results: dict[str, Any] = {}
    for mode, pause in (("settled", options.settle), ("back_to_back", 0.0)):
        samples: dict[str, list[float]] = {label: [] for label in sessions}
        done = 0
        while done < options.requests:
            count = min(block, options.requests - done)
            for label, session in sessions.items():
                for _ in range(count):
                    if pause:
                        session.settle(pause)
                    samples[label].append(session.execute(code).seconds)
            done += count
        results[mode] = {label: summary(values) for label, values in samples.items()}
    return results


def streaming(sessions: dict[str, Session], options: Options) -> dict[str, Any]:
    """A cell printing 10 MiB: send → ``idle``; throughput in MB/s (10^6 bytes)."""
    samples: dict[str, list[float]] = {label: [] for label in sessions}
    for _ in range(options.stream_runs):
        for label, session in sessions.items():
            result = session.execute(STREAM_CODE, idle=True)
            if result.stream_chars != STREAM_CHARS:
                raise RuntimeError(
                    f"{label}: got {result.stream_chars} of {STREAM_CHARS} characters"
                )
            samples[label].append(result.seconds)
            time.sleep(0.5)
    out: dict[str, Any] = {}
    for label, values in samples.items():
        median = statistics.median(values)
        out[label] = {
            "median_s": median,
            "mb_per_s": STREAM_CHARS / median / 1e6,
            "runs_s": values,
        }
    return out


# --------------------------------------------------------------------------- contexts


def context_switches(session: Session, options: Options, r_available: bool) -> dict[str, Any]:
    """``context_setup_request`` → ``context_setup_reply`` on a warm Beaker session."""

    def setup(language: str) -> float:
        return session.request(
            "context_setup_request",
            {"context": "default", "language": language, "context_info": {}},
        ).seconds

    first = setup("python3")
    same = [setup("python3") for _ in range(options.switches)]
    out: dict[str, Any] = {
        "first_setup_ms": first * 1000,
        "same_language": summary(same),
        "to_rlang": None,
        "back_to_python3": None,
    }
    if r_available and options.cross_switches:
        to_r, to_py = [], []
        for _ in range(options.cross_switches):
            to_r.append(setup("rlang"))
            session.execute("1")  # the R kernel answers
            to_py.append(setup("python3"))
        out["to_rlang"] = summary(to_r)
        out["back_to_python3"] = summary(to_py)
    return out


# --------------------------------------------------------------------------- memory


def memory(sessions: dict[str, Session]) -> dict[str, Any]:
    out = {}
    for label, session in sessions.items():
        own, total = session.rss_mib()
        out[label] = {"kernel_rss_mib": own, "session_rss_mib": total}
    return out


def unlisted_rss_mib(server: Server) -> float:
    """RSS of the kernel processes the server runs but does not list, in MiB: the warm
    subkernel of ``beaker serve`` (docs/service.md), which belongs to no session and is
    one more process per service, not per session."""
    listed = server.kernel_ids()
    total = 0
    for kernel_id, proc in server.kernel_processes().items():
        if kernel_id not in listed:
            with contextlib.suppress(psutil.Error):
                total += proc.memory_info().rss
    return total / MIB


# --------------------------------------------------------------------------- idle sessions


def sessions_that_fit(per_session_mib: float, options: Options) -> tuple[int, str]:
    """How many of ``options.idle_sessions`` sessions of ``per_session_mib`` (RSS of a warm
    session, plus a quarter for growth) fit in the memory available now, keeping
    ``options.memory_reserve_mib`` free; and why, if fewer."""
    available = psutil.virtual_memory().available / MIB
    each = per_session_mib * 1.25
    fit = int(max(0.0, available - options.memory_reserve_mib) // each)
    if fit >= options.idle_sessions:
        return options.idle_sessions, ""
    return fit, (
        f"scaled down from {options.idle_sessions} to {fit}: {available:.0f} MiB available, "
        f"{options.memory_reserve_mib:.0f} MiB kept free, ~{each:.0f} MiB per session"
    )


def keep_alive(sessions: list[Session]) -> None:
    """Answer the server's pings on every session (see :meth:`Session.keep_alive`)."""
    for session in sessions:
        with contextlib.suppress(Exception):  # a dead session shows in its probe
            session.keep_alive()


def _probe(session: Session, timeout: float) -> float:
    session.timeout = timeout
    try:
        return session.execute("pass").seconds
    finally:
        session.timeout = 180.0


def idle_sessions(
    server: Server,
    label: str,
    count: int,
    options: Options,
    progress: Callable[[str], None] = log,
) -> dict[str, Any]:
    """Open ``count`` sessions of ``label`` one after another, let them idle, then:

    * memory: RSS and PSS of every session's processes, and how much the machine's
      available memory fell while they were open (other jobs move that one);
    * one by one: each session answers ``pass`` while all the others stay open and idle
      (``options.settle`` apart);
    * all at once: every session is sent ``pass`` at the same moment (one thread each);
      each session's time from its send to its reply.

    A session that fails to open or to answer within 30 s is counted, not fatal.
    """
    kernelspec = KERNELS[label][0]
    available_before = psutil.virtual_memory().available / MIB
    sessions: list[Session] = []
    errors: list[str] = []
    started = time.monotonic()
    try:
        for n in range(count):
            try:
                sessions.append(open_checked(server, label, options, timeout=45)[0])
            except Exception as e:
                errors.append(f"open: {type(e).__name__}: {e}".splitlines()[0])
            keep_alive(sessions)
            if (n + 1) % 20 == 0:
                progress(f"{kernelspec}: {n + 1} of {count} sessions opened")
        open_s = time.monotonic() - started
        time.sleep(5.0)  # idle: post-execute work and start-up tails are over
        keep_alive(sessions)

        index = server.kernel_processes()
        rss = [s.rss_mib(index)[1] for s in sessions]
        pss = [s.pss_mib(index) for s in sessions]
        available_after = psutil.virtual_memory().available / MIB

        one_by_one: list[float] = []
        failed: set[int] = set()
        for i, session in enumerate(sessions):
            # settled, as in round_trips: the previous session's post-execute (a context's
            # state procedure, 50 ms after its reply) is over before the next probe
            time.sleep(options.settle)
            try:
                one_by_one.append(_probe(session, 30))
            except Exception as e:
                failed.add(i)
                errors.append(f"one by one: {type(e).__name__}: {e}".splitlines()[0])
        time.sleep(1.0)
        keep_alive(sessions)

        live = [s for i, s in enumerate(sessions) if i not in failed]
        together: list[float] = []
        if live:
            barrier = threading.Barrier(len(live))

            def at_once(session: Session) -> float:
                barrier.wait()
                return _probe(session, 30)

            with ThreadPoolExecutor(max_workers=len(live)) as pool:
                futures = [pool.submit(at_once, s) for s in live]
                wall = time.perf_counter()
                for future in futures:
                    try:
                        together.append(future.result())
                    except Exception as e:
                        errors.append(f"all at once: {type(e).__name__}: {e}".splitlines()[0])
                wall = time.perf_counter() - wall
        else:
            wall = 0.0
    finally:
        with ThreadPoolExecutor(max_workers=8) as pool:
            list(pool.map(Session.close, sessions))

    answered = len(one_by_one)
    return {
        "requested": count,
        "opened": len(sessions),
        "answered": answered,
        "failed": count - answered,
        "answered_all_at_once": len(together),
        "errors": errors[:10],
        "open_s": open_s,
        "rss_total_mib": sum(rss),
        "rss_per_session_mib": statistics.median(rss) if rss else None,
        "pss_total_mib": sum(pss),
        "pss_per_session_mib": sum(pss) / len(pss) if pss else None,
        "available_drop_mib": available_before - available_after,
        "one_by_one": summary(one_by_one) if one_by_one else None,
        "one_by_one_max_ms": max(one_by_one) * 1000 if one_by_one else None,
        "all_at_once": summary(together) if together else None,
        "all_at_once_max_ms": max(together) * 1000 if together else None,
        "all_at_once_wall_ms": wall * 1000,
    }
