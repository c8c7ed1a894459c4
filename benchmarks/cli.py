"""``python -m benchmarks``: start a server on loopback, measure, print a table, write JSON."""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

import psutil

from . import measure
from .harness import Server, Session
from .measure import BEAKER, PLAIN, Options, log

RESULTS = Path(__file__).resolve().parent / "results"


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
    p.add_argument("--max-sessions", type=int, default=60, help="capacity test stops here")
    p.add_argument("--no-capacity", action="store_true", help="skip the concurrent-sessions test")
    p.add_argument(
        "--no-quickack",
        action="store_true",
        help="leave delayed ACKs on, as a browser has them (adds Jupyter Server's ~40 ms "
        "Nagle delay to every round trip of both kernels)",
    )
    p.add_argument("--table", metavar="JSON", help="print the table of an earlier run and exit")
    p.add_argument("--quick", action="store_true", help="few samples: a smoke test, not numbers")
    return p.parse_args(argv)


def options_from(args: argparse.Namespace) -> Options:
    options = Options(
        requests=args.requests,
        settle=args.settle,
        cold_starts=args.cold_starts,
        stream_runs=args.stream_runs,
        switches=args.switches,
        cross_switches=args.cross_switches,
        max_sessions=0 if args.no_capacity else args.max_sessions,
        quickack=not args.no_quickack,
    )
    if args.quick:
        options.requests, options.cold_starts, options.stream_runs = 20, 1, 1
        options.switches, options.cross_switches = 3, 1
        options.max_sessions = min(options.max_sessions, 4)
    return options


def run(args: argparse.Namespace) -> dict[str, Any]:
    options = options_from(args)
    result: dict[str, Any] = {
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "machine": {
            "cpus": os.cpu_count(),
            "memory_mib": psutil.virtual_memory().total // 2**20,
            "python": platform.python_version(),
            "load_average_start": os.getloadavg(),
        },
        "options": {**vars(options), "server_args": args.server_arg},
    }
    server = Server.start(args.server, args.server_arg)
    result["server"] = server.kind
    log(f"{server.kind} on {server.url}")
    try:
        specs = server.kernelspecs()
        missing = {PLAIN, BEAKER} - specs
        if missing:
            raise SystemExit(f"kernelspec(s) {', '.join(sorted(missing))} not installed")
        r_available = "ir" in specs

        log("cold start")
        result["cold_start"] = measure.cold_start(server, options)

        log("opening warm sessions")
        sessions = {
            "plain": Session.open(server, PLAIN, quickack=options.quickack)[0],
            "beaker": Session.open(server, BEAKER, quickack=options.quickack)[0],
            "beaker_context": Session.open(server, BEAKER, quickack=options.quickack)[0],
        }
        try:
            sessions["beaker_context"].request(
                "context_setup_request",
                {"context": "default", "language": "python3", "context_info": {}},
            )
            for session in sessions.values():  # warm up
                for _ in range(10):
                    session.execute("pass")
            log(f"round trips ({options.requests} per mode and kernel)")
            result["round_trip"] = measure.round_trips(sessions, options)
            log("streaming")
            result["streaming"] = measure.streaming(
                {"plain": sessions["plain"], "beaker": sessions["beaker"]}, options
            )
            result["memory"] = measure.memory(sessions)
            log("context switches")
            result["context_switch"] = measure.context_switches(
                sessions["beaker"], options, r_available
            )
        finally:
            for session in sessions.values():
                session.close()

        if options.max_sessions:
            time.sleep(1.0)
            result["capacity"] = {}
            for label, name in (("plain", PLAIN), ("beaker", BEAKER)):
                log(f"concurrent sessions: {name}")
                result["capacity"][label] = measure.capacity(server, name, options)
                time.sleep(1.0)
        available = psutil.virtual_memory().available / 2**20
        result["capacity_by_memory"] = {
            label: int(available // result["memory"][label]["session_rss_mib"])
            for label in ("plain", "beaker_context")
        }
    finally:
        server.stop()
    result["machine"]["load_average_end"] = os.getloadavg()
    return result


# --------------------------------------------------------------------------- report


def rows(r: dict[str, Any]) -> list[tuple[str, Any, Any, str, str]]:
    """(metric, beaker, plain, target, direction) for the table; direction ``le`` means
    the ratio beaker/plain (or the value, for absolute targets) must be at most the
    target, ``ge`` at least."""
    rt = r.get("round_trip", {})
    out: list[tuple[str, Any, Any, str, str]] = []

    def add(metric: str, beaker: Any, plain: Any, target: str = "", direction: str = "") -> None:
        out.append((metric, beaker, plain, target, direction))

    for mode, label, target in (
        ("settled", "settled", "1.15x"),
        ("back_to_back", "back-to-back", "1.3x"),
    ):
        if mode in rt:
            b, c, p = rt[mode]["beaker"], rt[mode]["beaker_context"], rt[mode]["plain"]
            add(f"round trip {label}, median ms", b["median_ms"], p["median_ms"], target, "le")
            add(f"round trip {label}, p95 ms", b["p95_ms"], p["p95_ms"])
            add(
                "  same, default context, median ms",
                c["median_ms"],
                p["median_ms"],
                target,
                "le",
            )
            add("  same, default context, p95 ms", c["p95_ms"], p["p95_ms"])
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
        add(
            "cold start (POST → first reply), s",
            c[BEAKER]["median_ms"] / 1000,
            c[PLAIN]["median_ms"] / 1000,
            "1.5x",
            "le",
        )
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
    if "capacity" in r:
        cap = r["capacity"]

        def held(x: dict[str, Any]) -> str:
            return f"{'≥' if x['capped'] else ''}{x['sessions']}"

        add("sessions answering within 100 ms", held(cap["beaker"]), held(cap["plain"]))
    return out


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


def verdict(beaker: Any, plain: Any, target: str, direction: str) -> tuple[str, str]:
    """(ratio column, meets-target column)."""
    ratio = ""
    numeric = isinstance(beaker, (int, float)) and isinstance(plain, (int, float)) and plain
    if numeric:
        ratio = f"{beaker / plain:.2f}x"
    elif isinstance(beaker, str) and isinstance(plain, str):
        if "≥" in beaker + plain:
            return "both capped" if "≥" in beaker and "≥" in plain else "", ""
        try:
            ratio = f"{int(beaker.lstrip('≥')) / int(plain.lstrip('≥')):.2f}x"
        except (ValueError, ZeroDivisionError):
            ratio = ""
    if not target or beaker is None:
        return ratio, ""
    limit = float(target.rstrip("x").split()[0])
    if direction == "abs":
        ok = beaker <= limit
    elif not numeric:
        return ratio, ""
    elif direction == "le":
        # targets have two decimals: judge the ratio as printed
        ok = round(beaker / plain, 2) <= limit
    else:
        ok = round(beaker / plain, 2) >= limit
    return (
        ratio,
        f"{'≤' if direction in ('le', 'abs') else '≥'} {target} {'ok' if ok else 'MISSED'}",
    )


def table(r: dict[str, Any]) -> str:
    header = ("metric", "Beaker", "plain", "ratio", "target")
    lines = [header]
    for metric, beaker, plain, target, direction in rows(r):
        ratio, goal = verdict(beaker, plain, target, direction)
        lines.append((metric, _fmt(beaker), _fmt(plain), ratio, goal))
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    out = []
    for n, line in enumerate(lines):
        numbers = [c.rjust(w) for c, w in zip(line[1:4], widths[1:4], strict=True)]
        cells = [line[0].ljust(widths[0]), *numbers]
        cells.append(line[4].ljust(widths[4]))
        out.append("| " + " | ".join(cells) + " |")
        if n == 0:
            out.append("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> None:
    args = parse(argv)
    if args.table:
        print(table(json.loads(Path(args.table).read_text())))
        return
    started = time.monotonic()
    result = run(args)
    result["duration_s"] = time.monotonic() - started
    result["table"] = table(result)
    if args.output:
        path = Path(args.output)
    else:
        RESULTS.mkdir(exist_ok=True)
        stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
        path = RESULTS / f"{stamp}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2) + "\n")
    m = result["machine"]
    print()
    print(
        f"{result['server']}, {m['cpus']} CPUs, load average "
        f"{m['load_average_start'][0]:.2f} → {m['load_average_end'][0]:.2f}, "
        f"{result['duration_s']:.0f} s"
    )
    print(result["table"])
    if "capacity" in result:
        for label in ("plain", "beaker"):
            print(f"  {label} capacity stopped: {result['capacity'][label]['stopped_because']}")
    print(f"  memory bound (available / session RSS): {result['capacity_by_memory']}")
    print(f"JSON: {path}")


if __name__ == "__main__":
    main(sys.argv[1:])
