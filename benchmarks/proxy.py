"""``python -m benchmarks.proxy``: what the proxy itself costs, without a server.

Talks ZMQ straight to the kernel with jupyter_client (no Jupyter Server, no websocket), so
the difference between the plain ipykernel and the Beaker kernel is the proxy hop alone:

* ``latency``: execute round trips (to ``execute_reply`` and to ``idle``) for python3, the
  Beaker kernel without a context, with the ``default`` context, and without a context
  with iopub relayed in Python (``BEAKER_IOPUB_PASSTHROUGH=0``), and without a context
  with each shell request and reply read before it is sent on (``BEAKER_SEND_FIRST=0``);
  the CPU time each kernel process spends per round trip; and a cell publishing 3,000
  ``display_data`` messages (seconds to ``idle``, CPU time of the kernel process);
  ``--instances 2`` runs two kernels of each Beaker variant, to tell a change from the
  difference between two processes;
* ``profile``: the same requests against a Beaker kernel running under ``cProfile``,
  and the functions that cost most in the kernel process;
* ``imports``: what the Beaker kernel process imports before it answers, and how long.
"""

from __future__ import annotations

import argparse
import json
import os
import pstats
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil
from jupyter_client.blocking.client import BlockingKernelClient
from jupyter_client.manager import KernelManager

from .measure import summary


def start(
    kernel_name: str, context: str = "none", extra_env: dict[str, str] | None = None
) -> tuple[KernelManager, BlockingKernelClient]:
    """Start ``kernel_name``; a Beaker kernel sets up ``context`` in python3 at start
    (``"none"``: no context, the pure proxy)."""
    km = KernelManager(kernel_name=kernel_name)
    env = {
        **os.environ,
        "BEAKER_DEFAULT_CONTEXT": context,
        "BEAKER_DEFAULT_CONTEXT_LANGUAGE": "python3",
        **(extra_env or {}),
    }
    env.pop("BEAKER_DEFAULT_CONTEXT_PAYLOAD", None)
    km.start_kernel(env=env)
    kc = km.client()
    kc.start_channels()
    kc.wait_for_ready(timeout=120)
    return km, kc


def stop(km: KernelManager, kc: BlockingKernelClient) -> None:
    kc.stop_channels()
    km.shutdown_kernel(now=False)


#: A cell that publishes many small messages (one ``display_data`` each).
DISPLAYS = 3000
DISPLAY_CODE = f"for i in range({DISPLAYS}): display(i)"


def execute(kc: BlockingKernelClient, code: str = "pass") -> tuple[float, float]:
    """One cell (``pass``): seconds to the reply and to the idle status."""
    started = time.perf_counter()
    msg_id = kc.execute(code, store_history=True)
    to_reply = to_idle = 0.0
    while not to_reply:
        reply = kc.get_shell_msg(timeout=30)
        if reply["parent_header"].get("msg_id") == msg_id:
            to_reply = time.perf_counter() - started
    while not to_idle:
        msg = kc.get_iopub_msg(timeout=30)
        if (
            msg["parent_header"].get("msg_id") == msg_id
            and msg["msg_type"] == "status"
            and msg["content"]["execution_state"] == "idle"
        ):
            to_idle = time.perf_counter() - started
    return to_reply, to_idle


def drain(kc: BlockingKernelClient) -> None:
    while True:
        try:
            kc.get_iopub_msg(timeout=0.2)
        except Exception:
            return


def series(kc: BlockingKernelClient, n: int, pause: float) -> dict[str, Any]:
    replies, idles = [], []
    for _ in range(n):
        if pause:
            time.sleep(pause)
        r, i = execute(kc)
        replies.append(r)
        idles.append(i)
    return {"to_reply": summary(replies), "to_idle": summary(idles)}


def cpu_seconds(km: KernelManager) -> float:
    """CPU time (user and system) the kernel's process has used so far."""
    times = psutil.Process(km.provisioner.process.pid).cpu_times()  # type: ignore[union-attr]
    return float(times.user + times.system)


#: The Beaker kernels measured against the plain one: label → (context, environment).
BEAKER_VARIANTS: dict[str, tuple[str, dict[str, str]]] = {
    "beaker": ("none", {}),
    "beaker_context": ("default", {}),
    # iopub relayed in Python too (see beaker_kernel.kernel.passthrough)
    "beaker_py_iopub": ("none", {"BEAKER_IOPUB_PASSTHROUGH": "0"}),
    # shell requests and replies read before they are sent on (see beaker_kernel.kernel.router)
    "beaker_read_first": ("none", {"BEAKER_SEND_FIRST": "0"}),
}


def latency(n: int, pause: float, block: int = 25, instances: int = 1) -> dict[str, Any]:
    """Interleaved blocks of round trips for the plain kernel and each Beaker variant, and
    the CPU time each kernel process spends per round trip (for Beaker: its own process,
    not its subkernel). With ``instances`` > 1, each Beaker variant runs that many kernels
    (labels ``beaker#1``, ``beaker#2``, …): two processes of the same program can differ
    by more than a change under test does."""
    kernels: dict[str, tuple[KernelManager, BlockingKernelClient]] = {"plain": start("python3")}
    for number in range(1, instances + 1):
        suffix = f"#{number}" if instances > 1 else ""
        for label, (context, env) in BEAKER_VARIANTS.items():
            kernels[label + suffix] = start("beaker_kernel", context=context, extra_env=env)
    try:
        for _, kc in kernels.values():
            drain(kc)
            series(kc, 10, 0)
        out: dict[str, Any] = {}
        for mode, gap in (("settled", pause), ("back_to_back", 0.0)):
            raw: dict[str, dict[str, list[float]]] = {
                k: {"to_reply": [], "to_idle": []} for k in kernels
            }
            cpu = dict.fromkeys(kernels, 0.0)
            for _ in range(max(1, n // block)):
                for label, (km, kc) in kernels.items():
                    before = cpu_seconds(km)
                    for _ in range(block):
                        if gap:
                            time.sleep(gap)
                        r, i = execute(kc)
                        raw[label]["to_reply"].append(r)
                        raw[label]["to_idle"].append(i)
                    cpu[label] += cpu_seconds(km) - before
            out[mode] = {
                label: {
                    **{k: summary(v) for k, v in values.items()},
                    "cpu_us": cpu[label] / len(values["to_reply"]) * 1e6,
                }
                for label, values in raw.items()
            }
        out["displays"] = {}
        for label, (km, kc) in kernels.items():
            before = cpu_seconds(km)
            _, to_idle = execute(kc, DISPLAY_CODE)
            out["displays"][label] = {"seconds": to_idle, "cpu_s": cpu_seconds(km) - before}
        return out
    finally:
        for km, kc in kernels.values():
            stop(km, kc)


def profile(n: int, pause: float, output: Path) -> pstats.Stats:
    """Run a Beaker kernel under cProfile (through a kernelspec of its own) and send it
    ``n`` executes with the ``default`` context set; returns the kernel's profile."""
    with tempfile.TemporaryDirectory(prefix="beaker-profile-") as tmp:
        spec_dir = Path(tmp) / "kernels" / "beaker_profiled"
        spec_dir.mkdir(parents=True)
        spec = {
            "argv": [
                sys.executable,
                "-m",
                "cProfile",
                "-o",
                str(output),
                "-m",
                "beaker_kernel.kernel",
                "-f",
                "{connection_file}",
            ],
            "display_name": "Beaker (profiled)",
            "language": "python",
            "interrupt_mode": "message",
            "metadata": {"beaker_kernel": True},
        }
        (spec_dir / "kernel.json").write_text(json.dumps(spec))
        old = os.environ.get("JUPYTER_PATH")
        os.environ["JUPYTER_PATH"] = os.pathsep.join(filter(None, [tmp, old]))
        try:
            km, kc = start("beaker_profiled", context="default")
            drain(kc)
            series(kc, n, pause)
            kc.stop_channels()
            # a shutdown_request lets the process end normally, so cProfile writes its file
            km.shutdown_kernel(now=False)
        finally:
            if old is None:
                os.environ.pop("JUPYTER_PATH", None)
            else:
                os.environ["JUPYTER_PATH"] = old
    return pstats.Stats(str(output))


def imports() -> str:
    """``-X importtime`` of the modules a Beaker kernel loads before its first reply."""
    code = (
        "import beaker_kernel.kernel, jupyter_client.manager\n"
        "import sys\n"
        "heavy = ['tornado', 'jupyter_server', 'archytas', 'jinja2', 'ipykernel', "
        "'jupyter_client.manager', 'tornado.httpclient']\n"
        "print('loaded:', ', '.join(m for m in heavy if m in sys.modules))\n"
        "print('modules:', len(sys.modules))\n"
    )
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", code], capture_output=True, text=True
    )
    wall = time.perf_counter() - started
    rows = []
    for line in done.stderr.splitlines():
        if not line.startswith("import time:") or "|" not in line:
            continue
        _, cumulative, name = line.split("|")
        try:
            rows.append((int(cumulative), name.rstrip()))
        except ValueError:
            continue
    rows.sort(reverse=True)
    top = "\n".join(f"{us / 1000:8.1f} ms {name}" for us, name in rows[:25])
    return f"{done.stdout}interpreter + imports: {wall:.3f} s wall\n{top}"


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m benchmarks.proxy", description=__doc__)
    p.add_argument("what", choices=("latency", "profile", "imports"), nargs="?", default="latency")
    p.add_argument("-n", type=int, default=300)
    p.add_argument("--settle", type=float, default=0.1)
    p.add_argument("--instances", type=int, default=1, help="latency: kernels per Beaker variant")
    p.add_argument("--output", default=str(Path(tempfile.gettempdir()) / "beaker-kernel.prof"))
    args = p.parse_args(argv)
    if args.what == "imports":
        print(imports())
    elif args.what == "latency":
        result = latency(args.n, args.settle, instances=args.instances)
        displays = result.pop("displays")
        for mode, kernels in result.items():
            plain = kernels["plain"]
            for label, values in kernels.items():
                cells = []
                for key in ("to_reply", "to_idle"):
                    med = values[key]["median_ms"]
                    extra = (med - plain[key]["median_ms"]) * 1000
                    cells.append(
                        f"{key} {med:6.3f} ms (p95 {values[key]['p95_ms']:6.3f}, {extra:+5.0f} µs)"
                    )
                cells.append(f"CPU {values['cpu_us']:4.0f} µs")
                print(f"{mode:12} {label:19} " + "  ".join(cells))
        for label, values in displays.items():
            print(
                f"{DISPLAYS} displays {label:19} to_idle {values['seconds']:6.2f} s  "
                f"CPU {values['cpu_s']:5.2f} s"
            )
        print(json.dumps({**result, "displays": displays}))
    else:
        stats = profile(args.n, args.settle, Path(args.output))
        stats.sort_stats("tottime").print_stats(30)
        stats.sort_stats("cumulative").print_stats(40)
        print(f"profile: {args.output} (python -m pstats {args.output})")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
