"""``python -m benchmarks.checkpoints``: what a checkpoint costs with a ~100 MB data frame.

For each language a real subkernel holds one data frame of about ``--mb`` MB of numbers
(Python: a pandas DataFrame; R: a data.frame; Julia: a NamedTuple of column vectors, as
table packages hold them), or the same rows with a text column (``--frames mixed``). A
:class:`CheckpointStore` then saves them through the same ``evaluate`` round trip the
Beaker kernel uses (an execute request whose stdout is one JSON document), and the
benchmark measures:

* the first checkpoint of the session (Julia compiles the save code on first use),
* the following ones (median of ``--repeat``),
* a rollback after one cell of the frame changed (median of ``--repeat``),
* the bytes on disk of one checkpoint, and the size of the frame in memory as the
  language reports it.

Python and R run locally with their checkpoints in a temporary directory; Julia runs in the
``beaker-julia:offline`` container with its checkpoints on the container's own disk.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import AsyncKernelManager

from beaker_kernel.checkpoints import CheckpointStore

JULIA_IMAGE = "beaker-julia:offline"
LABEL = "beaker.benchmark=checkpoints"
MB = 1_000_000

#: Per kind of frame and language: code making the frame ``frame`` from about n bytes of
#: numbers and printing its size in memory (JSON), code changing one cell, and code
#: printing that cell (to check a rollback). ``numeric``: four float columns and an id;
#: ``mixed``: three float columns and a text column (short, distinct strings), so the
#: same number of rows, with strings in place of two numeric columns.
FRAMES: dict[str, dict[str, dict[str, str]]] = {
    "numeric": {
        "python3": {
            "make": (
                "import numpy as np, pandas as pd, json\n"
                "rows = {n} // 40\n"
                "frame = pd.DataFrame({c: np.random.default_rng(1).random(rows) for c in 'abcd'})\n"
                "frame['id'] = np.arange(rows)\n"
                "label, count = 'sales', 3\n"
                "print(json.dumps(int(frame.memory_usage(deep=True).sum())))"
            ),
            "change": "frame.loc[0, 'a'] = -1.0",
            "cell": "print(json.dumps(float(frame.loc[0, 'a'])))",
        },
        "rlang": {
            "make": (
                "set.seed(1)\n"
                "rows <- {n} %/% 40\n"
                "frame <- data.frame(a = runif(rows), b = runif(rows), c = runif(rows), "
                "d = runif(rows), id = seq_len(rows) * 1)\n"
                "label <- 'sales'; count <- 3\n"
                "cat(as.numeric(object.size(frame)))"
            ),
            "change": "frame$a[1] <- -1",
            "cell": "cat(frame$a[1])",
        },
        "julia": {
            "make": (
                "using Random\n"
                "rows = {n} ÷ 40\n"
                "frame = (a = rand(MersenneTwister(1), rows), b = rand(rows), c = rand(rows), "
                "d = rand(rows), id = collect(1:rows))\n"
                'label, count = "sales", 3\n'
                "println(Base.summarysize(frame))"
            ),
            "change": "frame.a[1] = -1.0",
            "cell": "println(frame.a[1])",
        },
    },
    "mixed": {
        "python3": {
            "make": (
                "import numpy as np, pandas as pd, json\n"
                "rows = {n} // 40\n"
                "frame = pd.DataFrame({c: np.random.default_rng(1).random(rows) for c in 'abc'})\n"
                "frame['name'] = [f'item-{i}' for i in range(rows)]\n"
                "print(json.dumps(int(frame.memory_usage(deep=True).sum())))"
            ),
            "change": "frame.loc[0, 'a'] = -1.0",
            "cell": "print(json.dumps(float(frame.loc[0, 'a'])))",
        },
        "rlang": {
            "make": (
                "set.seed(1)\n"
                "rows <- {n} %/% 40\n"
                "frame <- data.frame(a = runif(rows), b = runif(rows), c = runif(rows), "
                "name = paste0('item-', seq_len(rows)))\n"
                "cat(as.numeric(object.size(frame)))"
            ),
            "change": "frame$a[1] <- -1",
            "cell": "cat(frame$a[1])",
        },
        "julia": {
            "make": (
                "using Random\n"
                "rows = {n} ÷ 40\n"
                "frame = (a = rand(MersenneTwister(1), rows), b = rand(rows), c = rand(rows), "
                'name = ["item-$i" for i in 1:rows])\n'
                "println(Base.summarysize(frame))"
            ),
            "change": "frame.a[1] = -1.0",
            "cell": "println(frame.a[1])",
        },
    },
}

KERNELS = {"python3": "python3", "rlang": "ir", "julia": "beaker-julia-bench"}


@dataclass
class Result:
    language: str
    kind: str
    frame_bytes: int = 0
    checkpoint_bytes: int = 0
    first_add_s: float = 0.0
    add_s: list[float] = field(default_factory=list)
    rollback_s: list[float] = field(default_factory=list)
    setup_s: float = 0.0
    error: str | None = None

    @property
    def add_median(self) -> float:
        return statistics.median(self.add_s) if self.add_s else float("nan")

    @property
    def rollback_median(self) -> float:
        return statistics.median(self.rollback_s) if self.rollback_s else float("nan")


class Kernel:
    """A kernel and the ``evaluate`` a checkpoint store needs (async jupyter_client)."""

    def __init__(self, manager: AsyncKernelManager) -> None:
        self.manager = manager
        self.client = manager.client()

    @classmethod
    async def start(cls, name: str, spec_dirs: list[str] | None) -> Kernel:
        kwargs: dict[str, Any] = {"kernel_name": name}
        if spec_dirs:
            kwargs["kernel_spec_manager"] = KernelSpecManager(kernel_dirs=spec_dirs)
        manager = AsyncKernelManager(**kwargs)
        await manager.start_kernel()
        kernel = cls(manager)
        kernel.client.start_channels()
        await kernel.client.wait_for_ready(timeout=180)
        return kernel

    async def stop(self) -> None:
        self.client.stop_channels()
        await self.manager.shutdown_kernel(now=False)

    async def run(self, code: str, *, store_history: bool = True) -> str:
        """Run ``code``; its stdout. Raises RuntimeError with the traceback if it failed."""
        msg_id = self.client.execute(
            code, store_history=store_history, allow_stdin=False, stop_on_error=False
        )
        while True:
            reply = await self.client.get_shell_msg(timeout=1800)
            if reply["parent_header"].get("msg_id") == msg_id:
                break
        out = []
        while True:
            msg = await self.client.get_iopub_msg(timeout=1800)
            if msg["parent_header"].get("msg_id") != msg_id:
                continue
            if msg["msg_type"] == "stream" and msg["content"]["name"] == "stdout":
                out.append(msg["content"]["text"])
            if msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
                break
        content = reply["content"]
        if content["status"] != "ok":
            raise RuntimeError("\n".join(content.get("traceback", [])) or str(content))
        return "".join(out)

    async def evaluate(self, code: str) -> Any:
        text = (await self.run(code, store_history=False)).strip()
        return json.loads(text) if text else None


def julia_spec_dir(root: Path) -> list[str]:
    """A kernelspec running the offline Julia kernel in a container (as the tests do)."""
    spec = root / "kernels" / KERNELS["julia"]
    spec.mkdir(parents=True)
    docker_run = (
        f"exec docker run --rm -i --init --network host --label {LABEL} {JULIA_IMAGE} "
        'beaker-julia-kernel - < "$0"'
    )
    (spec / "kernel.json").write_text(
        json.dumps(
            {
                "argv": ["sh", "-c", docker_run, "{connection_file}"],
                "display_name": "Julia (benchmark)",
                "language": "julia",
                "interrupt_mode": "signal",
            }
        )
    )
    return [str(root / "kernels")]


async def timed(step: Callable[[], Awaitable[Any]]) -> tuple[float, Any]:
    started = time.perf_counter()
    value = await step()
    return time.perf_counter() - started, value


async def measure(language: str, kind: str, mb: int, repeat: int, workdir: Path) -> Result:
    result = Result(language, kind)
    spec_dirs = julia_spec_dir(workdir / f"julia-{kind}") if language == "julia" else None
    kernel = await Kernel.start(KERNELS[language], spec_dirs)
    try:
        frame = FRAMES[kind][language]
        result.setup_s, size = await timed(
            lambda: kernel.run(frame["make"].replace("{n}", str(mb * MB)))
        )
        result.frame_bytes = int(float(size))
        # Local kernels write under workdir; the container writes to its own /tmp.
        directory = (
            f"/tmp/beaker-bench-{uuid.uuid4().hex}"
            if language == "julia"
            else str(workdir / f"checkpoints-{language}-{kind}")
        )
        store = CheckpointStore(
            kernel.evaluate, language, directory=directory, max_bytes=4 * mb * MB, max_count=2
        )
        result.first_add_s, first = await timed(store.add)
        result.checkpoint_bytes = first.bytes
        for _ in range(repeat):
            seconds, checkpoint = await timed(store.add)
            result.add_s.append(seconds)
            before = await kernel.run(frame["cell"])
            await kernel.run(frame["change"])
            seconds, _ = await timed(lambda: store.rollback(checkpoint.index))  # noqa: B023
            result.rollback_s.append(seconds)
            restored = await kernel.run(frame["cell"])
            if restored != before:
                raise RuntimeError(f"rollback gave {restored!r}, expected {before!r}")
        await store.discard_all()
    finally:
        await kernel.stop()
    return result


def table(results: list[Result]) -> str:
    lines = [
        "| language | frame | in memory | checkpoint on disk | first checkpoint | checkpoint "
        "(median) | write rate | rollback (median) |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    names = {"python3": "Python (pandas)", "rlang": "R (data.frame)", "julia": "Julia (NamedTuple)"}
    for r in results:
        if r.error:
            lines.append(f"| {names[r.language]} | {r.kind} | not measured: {r.error} | | | | | |")
            continue
        rate = r.checkpoint_bytes / MB / r.add_median
        lines.append(
            f"| {names[r.language]} | {r.kind} | {r.frame_bytes / MB:.0f} MB"
            f" | {r.checkpoint_bytes / MB:.0f} MB"
            f" | {r.first_add_s:.2f} s | {r.add_median:.2f} s | {rate:.0f} MB/s"
            f" | {r.rollback_median:.2f} s |"
        )
    return "\n".join(lines)


def remove_containers() -> None:
    ids = subprocess.run(
        ["docker", "ps", "-aq", "--filter", f"label={LABEL}"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.split()
    if ids:
        subprocess.run(["docker", "rm", "-f", *ids], capture_output=True, check=False)


async def run(args: argparse.Namespace) -> list[Result]:
    results = []
    with tempfile.TemporaryDirectory(prefix="beaker-bench-") as tmp:
        for kind in args.frames:
            for language in args.languages:
                print(f"[checkpoints] {language}, {kind} ...", file=sys.stderr, flush=True)
                try:
                    result = await measure(language, kind, args.mb, args.repeat, Path(tmp))
                except Exception as e:  # one language failing must not hide the others
                    print(f"[checkpoints] {language} failed: {e}", file=sys.stderr)
                    error = f"{type(e).__name__}: {e}".splitlines()[0]
                    result = Result(language, kind, error=error)
                results.append(result)
    if "julia" in args.languages:
        remove_containers()
    return results


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m benchmarks.checkpoints", description=__doc__)
    p.add_argument(
        "--languages",
        type=lambda s: s.split(","),
        default=["python3", "rlang", "julia"],
        help="comma-separated: python3,rlang,julia (default: all three)",
    )
    p.add_argument(
        "--frames",
        type=lambda s: s.split(","),
        default=["numeric", "mixed"],
        help="comma-separated: numeric,mixed (default: both)",
    )
    p.add_argument("--mb", type=int, default=100, help="size of the data frame in MB (10^6)")
    p.add_argument("--repeat", type=int, default=3, help="checkpoints and rollbacks to time")
    p.add_argument("-o", "--output", help="also write the results as JSON to this file")
    args = p.parse_args(argv)
    unknown = set(args.languages) - set(KERNELS)
    if unknown:
        p.error(f"unknown language(s): {', '.join(sorted(unknown))}")
    unknown = set(args.frames) - set(FRAMES)
    if unknown:
        p.error(f"unknown frame(s): {', '.join(sorted(unknown))}")
    started = time.time()
    results = asyncio.run(run(args))
    print(table(results))
    if args.output:
        report = {
            "when": time.strftime("%Y-%m-%d %H:%M:%S"),
            "seconds": round(time.time() - started, 1),
            "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
            "mb": args.mb,
            "results": [asdict(r) for r in results],
        }
        Path(args.output).write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
