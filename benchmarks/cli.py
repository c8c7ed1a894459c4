"""``python -m benchmarks``: start a server on loopback, measure, print a table, write JSON."""

from __future__ import annotations

import argparse
import asyncio
import datetime
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import psutil

from . import measure
from .harness import PROTOCOLS, Server, Session
from .measure import (
    BEAKER,
    FLOOR,
    FLOOR_PYTHON,
    FLOORS,
    KERNELS,
    PLAIN,
    PLAIN_R,
    PYTHON_LABELS,
    R_LABELS,
    R_NOTHING,
    SERVER_ENV,
    VARIANTS,
    Options,
    log,
)

RESULTS = Path(__file__).resolve().parent / "results"

#: Targets of the Beaker/plain ratio: a session close to the bare kernel.
COLD_START_TARGET = "1.2x"
SETTLED_TARGET = "1.08x"
BACK_TO_BACK_TARGET = "1.1x"

#: Parts of a run (``--only``): cold starts; warm sessions (round trips, streaming,
#: memory, context switches); R round trips; idle sessions.
SECTIONS = ("cold_start", "warm", "r", "sessions")

#: RSS of a session assumed when deciding how many idle sessions fit, if the warm
#: sessions were not measured in this run (MiB).
ASSUMED_SESSION_MIB = {"plain": 65.0, "beaker_context": 100.0}

#: The Beaker label whose idle sessions are opened: a Beaker kernel as ``beaker serve``
#: starts it out of the box (the ``default`` context set up at start).
IDLE_BEAKER = "beaker_context"


def parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="Beaker kernel vs a plain ipykernel, both started by the same server.",
    )
    p.add_argument(
        "--server",
        choices=("auto", "beaker", "jupyter"),
        default="auto",
        help="'beaker serve' or a plain 'jupyter server' (auto: beaker serve if installed)",
    )
    p.add_argument(
        "--server-arg",
        action="append",
        default=[],
        metavar="ARG",
        help="extra option for the server command line (repeatable)",
    )
    p.add_argument("-o", "--output", help="JSON file to write (default: benchmarks/results/)")
    p.add_argument("--requests", type=int, default=200, help="round trips per mode and kernel")
    p.add_argument("--settle", type=float, default=0.15, help="pause before a settled request (s)")
    p.add_argument("--cold-starts", type=int, default=6, help="cold starts per kernel")
    p.add_argument("--stream-runs", type=int, default=3, help="10 MiB streaming runs per kernel")
    p.add_argument("--switches", type=int, default=10, help="same-language context switches")
    p.add_argument("--cross-switches", type=int, default=2, help="python3 → rlang → python3 cycles")
    p.add_argument(
        "--sessions",
        type=int,
        default=100,
        help="idle sessions opened at once, per kernel (fewer if memory is short)",
    )
    p.add_argument("--no-sessions", action="store_true", help="skip the idle-sessions test")
    p.add_argument("--no-r", action="store_true", help="skip the R round trips")
    p.add_argument(
        "--only",
        type=lambda text: text.split(","),
        default=list(SECTIONS),
        metavar="SECTIONS",
        help=f"comma-separated sections to run, of: {','.join(SECTIONS)} (default: all)",
    )
    p.add_argument(
        "--checkpoints",
        action="store_true",
        help="also time checkpoints of a ~100 MB data frame per language (Julia needs "
        "Docker and the beaker-julia:offline image; see benchmarks/checkpoints.py)",
    )
    p.add_argument(
        "--repeat",
        type=int,
        default=1,
        metavar="N",
        help="run everything N times (a new server each time) and print the spread",
    )
    p.add_argument(
        "--no-quickack",
        action="store_true",
        help="leave delayed ACKs on, as a browser has them (adds Jupyter Server's ~40 ms "
        "Nagle delay to every round trip of both kernels)",
    )
    p.add_argument(
        "--protocol",
        choices=PROTOCOLS,
        default="v1",
        help="the websocket protocol of the sessions: v1 (binary, as JupyterLab and "
        "beaker-ts speak it; the default) or json (the older one, where the server "
        "decodes and encodes every message)",
    )
    p.add_argument(
        "--python-floor",
        action="store_true",
        help="also measure the floor_python kernel in the round trips (a fifth kernel in "
        "the rotation, which raises every proxied back-to-back ratio a little)",
    )
    p.add_argument("--table", metavar="JSON", help="print the table of an earlier run and exit")
    p.add_argument("--quick", action="store_true", help="few samples: a smoke test, not numbers")
    args = p.parse_args(argv)
    if args.repeat < 1:
        p.error("--repeat must be at least 1")
    unknown = set(args.only) - set(SECTIONS)
    if unknown:
        p.error(f"unknown section(s) {', '.join(sorted(unknown))}; known: {', '.join(SECTIONS)}")
    args.sections = [
        name
        for name in SECTIONS
        if name in args.only
        and not (name == "r" and args.no_r)
        and not (name == "sessions" and (args.no_sessions or args.sessions <= 0))
    ]
    return args


def options_from(args: argparse.Namespace) -> Options:
    options = Options(
        requests=args.requests,
        settle=args.settle,
        cold_starts=args.cold_starts,
        stream_runs=args.stream_runs,
        switches=args.switches,
        cross_switches=args.cross_switches,
        idle_sessions=args.sessions,
        quickack=not args.no_quickack,
        protocol=args.protocol,
        python_floor=args.python_floor,
    )
    if args.quick:
        options.requests, options.cold_starts, options.stream_runs = 20, 1, 1
        options.switches, options.cross_switches = 3, 1
        options.idle_sessions = min(options.idle_sessions, 5)
    return options


class Timer:
    """Seconds each section of a run took (to plan runs; in the JSON)."""

    def __init__(self) -> None:
        self.sections: dict[str, float] = {}
        self._name = ""
        self._started = 0.0

    def section(self, name: str, message: str = "") -> None:
        self.stop()
        self._name, self._started = name, time.monotonic()
        log(message or name)

    def stop(self) -> None:
        if self._name:
            self.sections[self._name] = round(time.monotonic() - self._started, 1)
            self._name = ""


def run(args: argparse.Namespace) -> dict[str, Any]:
    options = options_from(args)
    result: dict[str, Any] = {
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "machine": {
            "cpus": os.cpu_count(),
            "memory_mib": psutil.virtual_memory().total // 2**20,
            "available_mib_start": psutil.virtual_memory().available // 2**20,
            "python": platform.python_version(),
            "load_average_start": os.getloadavg(),
        },
        "options": {**vars(options), "server_args": args.server_arg, "sections": args.sections},
        "kernels": {label: spec for label, (spec, _, _) in KERNELS.items()},
        "server_env": SERVER_ENV,
        "variants": VARIANTS,
    }
    timer = Timer()
    server = Server.start(args.server, args.server_arg, env=SERVER_ENV, variants=VARIANTS)
    result["server"] = server.kind
    log(f"{server.kind} on {server.url}")
    try:
        specs = server.kernelspecs()
        missing = {PLAIN, BEAKER, *VARIANTS, *(KERNELS[f][0] for f in FLOORS)} - specs
        if missing:
            raise SystemExit(f"kernelspec(s) {', '.join(sorted(missing))} not installed")
        r_available = PLAIN_R in specs
        result["r_available"] = r_available

        if "cold_start" in args.sections:
            timer.section("cold_start", "cold start")
            result["cold_start"] = measure.cold_start(server, options, PYTHON_LABELS)

        if "warm" in args.sections:
            timer.section("round_trip", "opening warm sessions")
            warm(server, options, result, timer)

        if "r" in args.sections and r_available:
            timer.section("r_round_trip", f"R round trips ({options.requests} per mode and kernel)")
            result["r_round_trip"] = r_round_trips(server, options)

        if "sessions" in args.sections:
            result["idle_sessions"] = {}
            for label in ("plain", IDLE_BEAKER):
                time.sleep(1.0)
                measured = result.get("memory", {}).get(label, {}).get("session_rss_mib")
                count, note = measure.sessions_that_fit(
                    measured or ASSUMED_SESSION_MIB[label], options
                )
                timer.section(f"idle_sessions_{label}", f"{count} idle sessions: {label}")
                if note:
                    log(note)
                outcome = measure.idle_sessions(server, label, count, options)
                outcome["note"] = note
                result["idle_sessions"][label] = outcome
        timer.stop()
        if "memory" in result:
            available = psutil.virtual_memory().available / 2**20
            result["capacity_by_memory"] = {
                label: int(available // result["memory"][label]["session_rss_mib"])
                for label in ("plain", "beaker_context")
            }
    finally:
        result["first_request"] = {
            "opened": dict(server.opened),
            "unanswered": dict(server.unanswered),
            "errors": server.failures,
        }
        server.stop()
    result["machine"]["load_average_end"] = os.getloadavg()
    result["sections_s"] = timer.sections
    return result


def warm(server: Server, options: Options, result: dict[str, Any], timer: Timer) -> None:
    """Round trips, streaming, memory and context switches on one session of each of
    :data:`PYTHON_LABELS`."""
    sessions = {
        label: measure.open_checked(server, label, options, timeout=60, retries=2)[0]
        for label in (*PYTHON_LABELS, FLOOR, *([FLOOR_PYTHON] if options.python_floor else []))
    }
    try:
        for session in sessions.values():  # warm up
            for _ in range(10):
                session.execute("pass")
        log(f"round trips ({options.requests} per mode and kernel)")
        result["round_trip"] = measure.round_trips(sessions, options)
        timer.section("streaming")
        result["streaming"] = measure.streaming(
            {"plain": sessions["plain"], "beaker": sessions["beaker"]}, options
        )
        result["memory"] = measure.memory(sessions)
        result["unlisted_rss_mib"] = measure.unlisted_rss_mib(server)
        timer.section("context_switch", "context switches")
        result["context_switch"] = measure.context_switches(
            sessions["beaker"], options, result["r_available"]
        )
    finally:
        for session in sessions.values():
            session.close()


def r_round_trips(server: Server, options: Options) -> dict[str, Any]:
    """Round trips of IRkernel alone and through Beaker (with and without a context)."""
    sessions: dict[str, Session] = {}
    try:
        for label in R_LABELS:
            sessions[label] = measure.open_checked(server, label, options, timeout=60, retries=2)[0]
        for session in sessions.values():  # warm up
            for _ in range(10):
                session.execute(R_NOTHING)
        return measure.round_trips(sessions, options, code=R_NOTHING)
    finally:
        for session in sessions.values():
            session.close()


# --------------------------------------------------------------------------- checkpoints


def checkpoint_section(quick: bool, r_available: bool) -> dict[str, Any]:
    """``benchmarks.checkpoints`` for every language that can run here."""
    from . import checkpoints  # imports Beaker's checkpoint store: only when asked for

    languages, notes = ["python3"], []
    if r_available:
        languages.append("rlang")
    else:
        notes.append("R not measured: no 'ir' kernelspec")
    image = checkpoints.JULIA_IMAGE
    try:
        found = subprocess.run(
            ["docker", "image", "inspect", image], capture_output=True, check=False
        ).returncode
    except OSError:
        found = -1
    if found == 0:
        languages.append("julia")
    else:
        notes.append(f"Julia not measured: Docker or the image {image} is not available")
    ns = argparse.Namespace(
        languages=languages,
        frames=["numeric"] if quick else ["numeric", "mixed"],
        mb=10 if quick else 100,
        repeat=1 if quick else 3,
    )
    results = asyncio.run(checkpoints.run(ns))
    return {
        "mb": ns.mb,
        "repeat": ns.repeat,
        "results": [asdict(r) for r in results],
        "table": checkpoints.table(results),
        "notes": notes,
    }


# --------------------------------------------------------------------------- report

Row = tuple[str, Any, Any, str, str]


def rows(r: dict[str, Any]) -> list[Row]:
    """(metric, beaker, plain, target, direction) for the table; direction ``le`` means
    the ratio beaker/plain (or the value, for absolute targets: ``abs``) must be at most
    the target, ``ge`` at least; ``info`` has no target (the floor row, whose "Beaker" column
    is the floor kernel)."""
    out: list[Row] = []

    def add(metric: str, beaker: Any, plain: Any, target: str = "", direction: str = "") -> None:
        out.append((metric, beaker, plain, target, direction))

    def trips(
        section: dict[str, Any],
        prefix: str,
        beaker: str,
        context: str,
        plain: str,
        floors: dict[str, str] | None = None,
    ) -> None:
        for mode, label, target in (
            ("settled", "settled", SETTLED_TARGET),
            ("back_to_back", "back-to-back", BACK_TO_BACK_TARGET),
        ):
            if mode not in section:
                continue
            b, c, p = section[mode][beaker], section[mode][context], section[mode][plain]
            add(f"{prefix} {label}, median ms", b["median_ms"], p["median_ms"], target, "le")
            add(f"{prefix} {label}, p95 ms", b["p95_ms"], p["p95_ms"])
            add("  same, default context, median ms", c["median_ms"], p["median_ms"], target, "le")
            add("  same, default context, p95 ms", c["p95_ms"], p["p95_ms"])
            for floor, name in (floors or {}).items():
                f = section[mode].get(floor)
                if f is not None:
                    add(f"  floor: {name}, median ms", f["median_ms"], p["median_ms"], "", "info")

    trips(
        r.get("round_trip", {}),
        "round trip",
        "beaker",
        "beaker_context",
        "plain",
        {FLOOR: "C ZMQ proxy process", FLOOR_PYTHON: "shell relayed by a Python loop"},
    )
    if "r_round_trip" in r:
        trips(r["r_round_trip"], "R round trip", "beaker_r", "beaker_r_context", "plain_r")
    if "streaming" in r:
        s = r["streaming"]
        add(
            "output streaming 10 MiB, MB/s",
            s["beaker"]["mb_per_s"],
            s["plain"]["mb_per_s"],
            "0.8x",
            "ge",
        )
    if "cold_start" in r:
        c = r["cold_start"]

        def seconds(x: dict[str, Any] | None) -> float | None:
            return x["median_ms"] / 1000 if x else None

        plain = seconds(c.get("plain", c.get(PLAIN)))
        add(
            "cold start (POST → first reply), s",
            seconds(c.get("beaker", c.get(BEAKER))),
            plain,
            COLD_START_TARGET,
            "le",
        )
        if "beaker_context" in c:
            add(
                "  same, default context, s",
                seconds(c["beaker_context"]),
                plain,
                COLD_START_TARGET,
                "le",
            )
    if "first_request" in r:
        f = r["first_request"]

        def tally(specs: list[str]) -> str:
            opened = sum(f["opened"].get(k, 0) for k in specs)
            return f"{sum(f['unanswered'].get(k, 0) for k in specs)} of {opened}"

        beakers = [spec for spec, slug, _ in KERNELS.values() if slug]
        plains = [
            spec for label, (spec, slug, _) in KERNELS.items() if not slug and label not in FLOORS
        ]
        add("kernels never answering their first request", tally(beakers), tally(plains))
    if "context_switch" in r:
        cs = r["context_switch"]
        add(
            "context switch, same language, ms",
            cs["same_language"]["median_ms"],
            None,
            "100 ms",
            "abs",
        )
        if cs.get("to_rlang"):
            add("context switch python3 → rlang, ms", cs["to_rlang"]["median_ms"], None)
            add("context switch rlang → python3, ms", cs["back_to_python3"]["median_ms"], None)
    if "memory" in r:
        m = r["memory"]
        add(
            "RSS Beaker kernel process, MiB",
            m["beaker_context"]["kernel_rss_mib"],
            m["plain"]["kernel_rss_mib"],
            "60 MiB",
            "abs",
        )
        add(
            "RSS whole session, MiB",
            m["beaker_context"]["session_rss_mib"],
            m["plain"]["session_rss_mib"],
        )
    if r.get("unlisted_rss_mib") is not None:
        add("RSS warm subkernel (one per service), MiB", r["unlisted_rss_mib"], None)
    if "idle_sessions" in r:
        b, p = r["idle_sessions"][IDLE_BEAKER], r["idle_sessions"]["plain"]
        add("idle sessions, answering of requested", _count(b), _count(p))
        add("  RSS total, MiB", b["rss_total_mib"], p["rss_total_mib"])
        add("  RSS per session (median), MiB", b["rss_per_session_mib"], p["rss_per_session_mib"])
        add("  PSS total, MiB", b["pss_total_mib"], p["pss_total_mib"])
        for key, label in (("one_by_one", "one by one"), ("all_at_once", "all at once")):
            if b[key] and p[key]:
                add(f"  answer `pass` {label}, median ms", b[key]["median_ms"], p[key]["median_ms"])
                add(
                    f"  answer `pass` {label}, max ms",
                    b[f"{key}_max_ms"],
                    p[f"{key}_max_ms"],
                    *(("100 ms", "abs") if key == "one_by_one" else ()),
                )
    return out


def _count(x: dict[str, Any]) -> str:
    return f"{x['answered']} of {x['requested']}"


def _fmt(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, str):
        return value
    if value >= 100:
        return f"{value:.0f}"
    if value >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def ratio_of(beaker: Any, plain: Any) -> float | None:
    numeric = isinstance(beaker, (int, float)) and isinstance(plain, (int, float))
    return beaker / plain if numeric and plain else None


def meets(beaker: Any, plain: Any, target: str, direction: str) -> bool | None:
    """Whether the row meets its target; None if it has none (or lacks a number)."""
    if not target or not isinstance(beaker, (int, float)):
        return None
    limit = float(target.rstrip("x").split()[0])
    if direction == "abs":
        return bool(beaker <= limit)
    ratio = ratio_of(beaker, plain)
    if ratio is None:
        return None
    # targets have at most two decimals: judge the ratio as printed
    if direction == "le":
        return round(ratio, 2) <= limit
    return round(ratio, 2) >= limit


def verdict(beaker: Any, plain: Any, target: str, direction: str) -> tuple[str, str]:
    """(ratio column, meets-target column)."""
    ratio = ratio_of(beaker, plain)
    text = f"{ratio:.2f}x" if ratio is not None else ""
    ok = meets(beaker, plain, target, direction)
    if ok is None:
        return text, ""
    sign = "≤" if direction in ("le", "abs") else "≥"
    return text, f"{sign} {target} {'ok' if ok else 'MISSED'}"


def markdown(header: tuple[str, ...], lines: Sequence[tuple[str, ...]], right: range) -> str:
    """A Markdown table; the columns in ``right`` are right-aligned."""
    every = [header, *lines]
    widths = [max(len(line[i]) for line in every) for i in range(len(header))]
    out = []
    for n, line in enumerate(every):
        cells = [
            c.rjust(w) if i in right else c.ljust(w)
            for i, (c, w) in enumerate(zip(line, widths, strict=True))
        ]
        out.append("| " + " | ".join(cells) + " |")
        if n == 0:
            out.append("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(out)


def table(r: dict[str, Any]) -> str:
    lines = []
    for metric, beaker, plain, target, direction in rows(r):
        ratio, goal = verdict(beaker, plain, target, direction)
        lines.append((metric, _fmt(beaker), _fmt(plain), ratio, goal))
    return markdown(("metric", "Beaker", "plain", "ratio", "target"), lines, range(1, 4))


def qualified(table_rows: list[Row]) -> list[Row]:
    """The rows with names that stand alone: an indented row (``  same, default context,
    median ms``) is named after the row above it (``round trip settled, default context,
    median ms``)."""
    out: list[Row] = []
    base = ""
    for metric, *rest in table_rows:
        if metric.startswith("  "):
            child = metric.strip().removeprefix("same, ")
            metric = f"{base}, {child}"
        else:
            base = metric.rsplit(",", 1)[0]
        out.append((metric, *rest))
    return out


def spread(runs: list[dict[str, Any]]) -> str:
    """Min, median and max over runs of each ratio with a target (of the Beaker value for
    absolute targets), and in how many runs it met the target; rows ``info`` (the floor)
    without a target."""
    collected: dict[str, list[tuple[float, bool | None]]] = {}
    targets: dict[str, tuple[str, str]] = {}
    for r in runs:
        for metric, beaker, plain, target, direction in qualified(rows(r)):
            if direction == "abs":
                value = beaker if isinstance(beaker, (int, float)) else None
            else:
                value = ratio_of(beaker, plain)
            if value is None or not (target or direction == "info"):
                continue
            collected.setdefault(metric, []).append(
                (value, meets(beaker, plain, target, direction))
            )
            targets[metric] = (target, direction)
    lines = []
    for metric, values in collected.items():
        target, direction = targets[metric]
        numbers = [v for v, _ in values]
        shown = (
            [_fmt(x) for x in (min(numbers), statistics.median(numbers), max(numbers))]
            if direction == "abs"
            else [f"{x:.2f}x" for x in (min(numbers), statistics.median(numbers), max(numbers))]
        )
        if direction == "info":
            # no target: shown for comparison (the floor of any proxy process)
            lines.append((metric, *shown, "—", "—"))
            continue
        ok = sum(1 for _, good in values if good)
        sign = "≤" if direction in ("le", "abs") else "≥"
        lines.append((metric, *shown, f"{sign} {target}", f"{ok} of {len(values)}"))
    return markdown(
        (
            "metric (Beaker/plain; Beaker alone for absolute targets)",
            "min",
            "median",
            "max",
            "target",
            "runs ok",
        ),
        lines,
        range(1, 4),
    )


def summary_line(result: dict[str, Any]) -> str:
    m = result["machine"]
    return (
        f"{result['server']}, websocket protocol {result['options'].get('protocol', 'json')}, "
        f"{m['cpus']} CPUs, load average "
        f"{m['load_average_start'][0]:.2f} → {m['load_average_end'][0]:.2f}, "
        f"{result['duration_s']:.0f} s"
    )


def notes(result: dict[str, Any]) -> list[str]:
    out = []
    for error in result.get("first_request", {}).get("errors", []):
        out.append(f"never answered: {error}")
    if not result.get("r_available", True):
        out.append("R not measured: the server has no 'ir' kernelspec")
    for label, idle in result.get("idle_sessions", {}).items():
        if idle.get("note"):
            out.append(f"idle sessions, {label}: {idle['note']}")
        if idle["failed"] or idle["answered_all_at_once"] != idle["answered"]:
            out.append(f"idle sessions, {label}: {idle['failed']} failed: {idle['errors']}")
        out.append(
            f"idle sessions, {label}: opened in {idle['open_s']:.0f} s; available memory "
            f"fell by {idle['available_drop_mib']:.0f} MiB while open"
        )
    if "capacity_by_memory" in result:
        out.append(f"memory bound (available / session RSS): {result['capacity_by_memory']}")
    return out


def report(document: dict[str, Any]) -> str:
    """The text printed for a result file: one run, or several and their spread."""
    runs = document.get("runs", [document])
    out = []
    for n, result in enumerate(runs, 1):
        out.append("")
        prefix = f"run {n} of {len(runs)}: " if len(runs) > 1 else ""
        out.append(prefix + summary_line(result))
        out.append(table(result))
        out.extend(f"  {line}" for line in notes(result))
    if len(runs) > 1:
        out.append("")
        out.append(f"spread over {len(runs)} runs")
        out.append(spread(runs))
    if "checkpoints" in document:
        c = document["checkpoints"]
        out.append("")
        out.append(f"checkpoints of a ~{c['mb']} MB data frame (median of {c['repeat']})")
        out.append(c["table"])
        out.extend(f"  {line}" for line in c["notes"])
    return "\n".join(out)


def main(argv: list[str] | None = None) -> None:
    args = parse(argv)
    if args.table:
        print(report(json.loads(Path(args.table).read_text())))
        return
    runs = []
    for n in range(args.repeat):
        if args.repeat > 1:
            log(f"run {n + 1} of {args.repeat}")
        started = time.monotonic()
        result = run(args)
        result["duration_s"] = time.monotonic() - started
        result["table"] = table(result)
        runs.append(result)
    document: dict[str, Any] = runs[0] if len(runs) == 1 else {"runs": runs}
    if len(runs) > 1:
        document["spread"] = spread(runs)
    if args.checkpoints:
        log("checkpoints")
        started = time.monotonic()
        document["checkpoints"] = checkpoint_section(
            args.quick, any(r.get("r_available") for r in runs) and shutil.which("R") is not None
        )
        document["checkpoints"]["duration_s"] = time.monotonic() - started
    if args.output:
        path = Path(args.output)
    else:
        RESULTS.mkdir(exist_ok=True)
        stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
        path = RESULTS / f"{stamp}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=2) + "\n")
    print(report(document))
    print(f"JSON: {path}")


if __name__ == "__main__":
    main(sys.argv[1:])
