"""The measurements. Each takes a running :class:`~.harness.Server` and returns plain
JSON-ready dicts; the plain ipykernel and the Beaker kernel are measured in the same run,
interleaved where that is possible, so that load from other processes hits both alike."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .harness import Server, Session

PLAIN = "python3"
BEAKER = "beaker_kernel"

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
    max_sessions: int = 60
    session_batch: int = 4
    probe_limit: float = 0.100
    quickack: bool = True


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


def cold_start(server: Server, options: Options) -> dict[str, Any]:
    """``POST /api/kernels`` → first ``execute_reply``, alternating the two kernels."""
    samples: dict[str, list[float]] = {PLAIN: [], BEAKER: []}
    for run in range(options.cold_starts):
        # ABBA order, so that neither kernel always follows the other's shutdown
        for name in (PLAIN, BEAKER) if run % 2 == 0 else (BEAKER, PLAIN):
            session, seconds = Session.open(server, name, quickack=options.quickack)
            samples[name].append(seconds)
            session.close()
            time.sleep(1.5)  # let the stopped kernels' processes go
    return {name: summary(values) for name, values in samples.items()}


# --------------------------------------------------------------------------- round trips


def round_trips(
    sessions: dict[str, Session], options: Options, *, block: int = 20
) -> dict[str, Any]:
    """Execute ``pass`` ``options.requests`` times per session, settled (a pause before
    each request) and back-to-back, in blocks alternating between the sessions."""
    results: dict[str, Any] = {}
    for mode, pause in (("settled", options.settle), ("back_to_back", 0.0)):
        samples: dict[str, list[float]] = {label: [] for label in sessions}
        done = 0
        while done < options.requests:
            count = min(block, options.requests - done)
            for label, session in sessions.items():
                for _ in range(count):
                    if pause:
                        time.sleep(pause)
                    samples[label].append(session.execute("pass").seconds)
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


# --------------------------------------------------------------------------- capacity


def capacity(
    server: Server,
    kernel_name: str,
    options: Options,
    progress: Callable[[str], None] = log,
) -> dict[str, Any]:
    """Open sessions in batches until one of them no longer answers ``pass`` within
    ``options.probe_limit`` (median of three probes), or ``options.max_sessions``."""
    sessions: list[Session] = []
    held = 0
    worst: list[float] = []
    reason = f"cap of {options.max_sessions} sessions reached"
    try:
        while len(sessions) < options.max_sessions:
            batch = min(options.session_batch, options.max_sessions - len(sessions))
            for _ in range(batch):
                sessions.append(Session.open(server, kernel_name, quickack=options.quickack)[0])
            time.sleep(1.0)  # let the new kernels finish starting up in the background
            medians = []
            for session in sessions:
                probes = [session.execute("pass").seconds for _ in range(3)]
                medians.append(statistics.median(probes))
            worst.append(max(medians))
            if max(medians) > options.probe_limit:
                slow = sum(m > options.probe_limit for m in medians)
                reason = (
                    f"{slow} of {len(sessions)} sessions slower than "
                    f"{options.probe_limit * 1000:.0f} ms (worst {max(medians) * 1000:.0f} ms)"
                )
                break
            held = len(sessions)
            progress(f"{kernel_name}: {held} sessions, worst {max(medians) * 1000:.1f} ms")
    finally:
        for session in sessions:
            session.close()
    return {
        "sessions": held,
        "capped": held >= options.max_sessions,
        "stopped_because": reason,
        "worst_probe_ms": [w * 1000 for w in worst],
    }
