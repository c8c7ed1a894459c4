"""Real subkernels for the checkpoint tests: ipykernel, IRkernel and the offline Julia kernel.

Each language is a :class:`Subkernel`: user cells run with :meth:`Subkernel.run`, and
:meth:`Subkernel.evaluate` is the ``evaluate`` a :class:`CheckpointStore` is given — an
execute request out of the history whose stdout must be exactly one JSON document, as the
Beaker kernel runs procedures. The snippets that differ by language (assigning, deleting,
opening a stream, showing a value) are in :class:`Language`.
"""

from __future__ import annotations

import asyncio
import json
import queue
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from jupyter_client.blocking.client import BlockingKernelClient
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import KernelManager

from beaker_kernel.errors import ProcedureFailedError

from ..client import start_ready

# The Julia kernel's container, started the way tests/julia_kernel starts it: its
# kernelspec fixture (and the fixtures that one needs) serve this folder too.
from ..julia_kernel.conftest import KERNEL_NAME as JULIA_KERNEL_NAME
from ..julia_kernel.conftest import container_label as container_label
from ..julia_kernel.conftest import julia_image as julia_image
from ..julia_kernel.conftest import julia_kernelspec_dir as julia_kernelspec_dir

TIMEOUT = 120


@dataclass(frozen=True)
class Language:
    """How to say the things the tests do, in one language."""

    slug: str
    kernel_name: str
    #: True when the kernel runs on this machine, so the test can look at its files directly.
    local: bool
    assign: Callable[[str, str], str]
    delete: Callable[[str], str]
    #: Code printing a JSON string that shows the value of a variable (None if absent).
    show: Callable[[str], str]
    #: Code printing the JSON list of the user's variable names.
    names: str
    #: Code making the variable name an open, writable file stream on path.
    open_stream: Callable[[str, str], str]
    #: Code printing whether the stream in the variable is still open (JSON true/false).
    stream_open: Callable[[str], str]
    #: Code printing the JSON list of every file under a directory, or null if it is absent.
    files: Callable[[str], str]
    #: A literal taking about n bytes when saved.
    big: Callable[[int], str]
    #: A literal of the language (Python literals of str/int/list are rendered by each).
    literal: Callable[[Any], str]
    #: Code removing every user variable (between tests).
    reset: str
    #: A directory the kernel can write to, for one test (weird characters on purpose).
    scratch: Callable[[Path], str]


def _py_literal(value: Any) -> str:
    return repr(value)


def _r_literal(value: Any) -> str:
    if isinstance(value, list):
        return "c(" + ", ".join(map(_r_literal, value)) + ")"
    if isinstance(value, str):
        return json.dumps(value)
    return repr(value)


def _julia_literal(value: Any) -> str:
    if isinstance(value, str):
        return json.dumps(value).replace("$", "\\$")
    return repr(value)


PYTHON = Language(
    slug="python3",
    kernel_name="python3",
    local=True,
    assign=lambda name, code: f"{name} = {code}",
    delete=lambda name: f"del {name}",
    show=lambda name: (
        f"print(__import__('json').dumps(repr(globals()[{name!r}]) if {name!r} in globals() "
        "else None))"
    ),
    names=(
        "print(__import__('json').dumps([n for n in globals() if not n.startswith('_') "
        "and n not in ('In', 'Out', 'exit', 'quit', 'get_ipython')]))"
    ),
    open_stream=lambda name, path: f"{name} = open({path!r}, 'w')",
    stream_open=lambda name: f"print(__import__('json').dumps(not {name}.closed))",
    files=lambda d: (
        "import os as _os, json as _json\n"
        f"print(_json.dumps(sorted(_os.path.join(r, f) for r, _, fs in _os.walk({d!r}) "
        f"for f in fs) if _os.path.isdir({d!r}) else None))\n"
        "del _os, _json"
    ),
    big=lambda n: f"bytes({n})",
    literal=_py_literal,
    reset="get_ipython().run_line_magic('reset', '-f')",
    scratch=lambda tmp: str(tmp / "check'points $x é"),
)

R = Language(
    slug="rlang",
    kernel_name="ir",
    local=True,
    assign=lambda name, code: f"{name} <- {code}",
    delete=lambda name: f"rm({name})",
    show=lambda name: (
        f'cat(jsonlite::toJSON(if (exists("{name}", envir = globalenv(), inherits = FALSE)) '
        f'paste(deparse(get("{name}", envir = globalenv())), collapse = " ") else NULL, '
        "auto_unbox = TRUE, null = 'null'))"
    ),
    names="cat(jsonlite::toJSON(ls(globalenv())))",
    open_stream=lambda name, path: f"{name} <- file({json.dumps(path)}, 'w')",
    stream_open=lambda name: f"cat(jsonlite::toJSON(isOpen({name}), auto_unbox = TRUE))",
    files=lambda d: (
        f"local({{ d <- {json.dumps(d)}; cat(if (dir.exists(d)) jsonlite::toJSON(sort("
        "list.files(d, recursive = TRUE, full.names = TRUE, all.files = TRUE))) else 'null') })"
    ),
    big=lambda n: f"raw({n})",
    literal=_r_literal,
    reset="rm(list = ls(globalenv(), all.names = TRUE), envir = globalenv())",
    scratch=lambda tmp: str(tmp / "check'points $x é"),
)

JULIA = Language(
    slug="julia",
    kernel_name=JULIA_KERNEL_NAME,
    local=False,
    assign=lambda name, code: f"{name} = {code}",
    # Julia cannot delete a global: bound to nothing is as deleted as it gets.
    delete=lambda name: f"{name} = nothing",
    show=lambda name: (
        f'println(isdefined(Main, :{name}) && {name} !== nothing ? repr(repr({name})) : "null")'
    ),
    names=(
        'println("[" * join([repr(string(n)) for n in names(Main; all = true) '
        'if isdefined(Main, n) && !startswith(string(n), "#") && '
        'getfield(Main, n) !== nothing], ",") * "]")'
    ),
    open_stream=lambda name, path: f'{name} = open({_julia_literal(path)}, "w")',
    stream_open=lambda name: f'println(isopen({name}) ? "true" : "false")',
    files=lambda d: (
        f"let d = {_julia_literal(d)}\n"
        # repr writes `$` as `\$`, which JSON does not have
        r'    q(s) = replace(repr(s), "\\\$" => "\$")'
        "\n"
        '    println(isdir(d) ? "[" * join(sort([q(joinpath(r, f)) for (r, _, fs) in '
        'walkdir(d) for f in fs]), ",") * "]" : "null")\nend'
    ),
    big=lambda n: f"zeros(UInt8, {n})",
    literal=_julia_literal,
    reset=(
        "for n in names(Main; all = true)\n"
        "    s = string(n)\n"
        '    (startswith(s, "#") || startswith(s, "_") || isconst(Main, n) || '
        "!isdefined(Main, n)) && continue\n"
        "    Core.eval(Main, Expr(:(=), n, nothing))\n"
        "end"
    ),
    # The container's own disk; `$` and quotes check the literals.
    scratch=lambda tmp: f"/tmp/check'points $x é {tmp.name}",
)


class Subkernel:
    """A running kernel: user cells, and an ``evaluate`` for a checkpoint store."""

    def __init__(self, language: Language, manager: KernelManager, client: BlockingKernelClient):
        self.language = language
        self.manager = manager
        self.client = client

    def _execute(self, code: str, *, store_history: bool) -> tuple[dict[str, Any], str, str]:
        msg_id = self.client.execute(
            code,
            silent=False,
            store_history=store_history,
            allow_stdin=False,
            stop_on_error=False,
        )
        deadline = time.monotonic() + TIMEOUT
        reply = None
        while reply is None:
            msg = self.client.get_shell_msg(timeout=max(0.1, deadline - time.monotonic()))
            if msg["parent_header"].get("msg_id") == msg_id:
                reply = msg["content"]
        stdout, stderr = [], []
        while True:
            msg = self.client.get_iopub_msg(timeout=max(0.1, deadline - time.monotonic()))
            if msg["parent_header"].get("msg_id") != msg_id:
                continue
            kind, content = msg["msg_type"], msg["content"]
            if kind == "stream":
                (stdout if content["name"] == "stdout" else stderr).append(content["text"])
            elif kind == "status" and content["execution_state"] == "idle":
                return reply, "".join(stdout), "".join(stderr)

    def run(self, code: str) -> str:
        """Run a user cell; fails the test if it raised. Returns its stdout."""
        reply, stdout, stderr = self._execute(code, store_history=True)
        assert reply["status"] == "ok", "\n".join(reply.get("traceback", [])) or stderr
        return stdout

    def value(self, code: str) -> Any:
        """Run code that prints JSON; the decoded document."""
        return json.loads(self.run(code))

    def evaluate_now(self, code: str) -> Any:
        reply, stdout, _ = self._execute(code, store_history=False)
        if reply["status"] != "ok":
            ename, evalue = str(reply.get("ename", "Error")), str(reply.get("evalue", ""))
            raise ProcedureFailedError(
                f"The code raised {ename} in the subkernel: {evalue}",
                subkernel_ename=ename,
                subkernel_evalue=evalue,
                traceback=[str(line) for line in reply.get("traceback", [])],
            )
        text = stdout.strip()
        if not text:
            return None
        try:
            return json.loads(text)
        except ValueError as e:
            raise ProcedureFailedError(
                f"The code did not print a single JSON document: {e}; it printed {text[:200]!r}"
            ) from e

    async def evaluate(self, code: str) -> Any:
        """The store's ``evaluate``: the blocking client in a thread, one call at a time."""
        return await asyncio.to_thread(self.evaluate_now, code)

    # -- what the tests ask about --------------------------------------------------

    def set(self, **assignments: str) -> None:
        self.run("\n".join(self.language.assign(n, c) for n, c in assignments.items()))

    def delete(self, *names: str) -> None:
        self.run("\n".join(self.language.delete(n) for n in names))

    def show(self, name: str) -> str | None:
        result = self.value(self.language.show(name))
        assert result is None or isinstance(result, str)
        return result

    def names(self) -> set[str]:
        return set(self.value(self.language.names))

    def files(self, directory: str) -> list[str] | None:
        listing = self.value(self.language.files(directory))
        if listing is None:
            return None
        # jsonlite writes a one-element character vector as a list too; a string is never
        # expected, but keep the type honest.
        return [listing] if isinstance(listing, str) else list(listing)

    def reset(self) -> None:
        self.run(self.language.reset)


def _start(language: Language, spec_dirs: list[str] | None) -> Subkernel:
    kwargs: dict[str, Any] = {"kernel_name": language.kernel_name}
    if spec_dirs is not None:
        kwargs["kernel_spec_manager"] = KernelSpecManager(kernel_dirs=spec_dirs)
    manager, client = start_ready(lambda: KernelManager(**kwargs), TIMEOUT)
    # wait_for_ready may leave extra kernel_info replies behind.
    while True:
        try:
            client.get_shell_msg(timeout=0.3)
        except queue.Empty:
            break
    return Subkernel(language, manager, client)


def _stop(kernel: Subkernel) -> None:
    kernel.client.stop_channels()
    if kernel.manager.is_alive():
        kernel.manager.shutdown_kernel(now=False)


LANGUAGES = [
    pytest.param(PYTHON, id="python3"),
    pytest.param(R, id="rlang", marks=pytest.mark.r),
    pytest.param(JULIA, id="julia", marks=pytest.mark.julia),
]


def _running(language: Language, request: pytest.FixtureRequest) -> Iterator[Subkernel]:
    spec_dirs = None
    if language is JULIA:
        root: Path = request.getfixturevalue("julia_kernelspec_dir")
        spec_dirs = [str(root / "kernels")]
    started = _start(language, spec_dirs)
    try:
        yield started
    finally:
        _stop(started)


@pytest.fixture(scope="module", params=LANGUAGES)
def kernel(request: pytest.FixtureRequest) -> Iterator[Subkernel]:
    """One kernel per language, shared by the tests of a module."""
    yield from _running(request.param, request)


@pytest.fixture(scope="module")
def python(request: pytest.FixtureRequest) -> Iterator[Subkernel]:
    """An ipykernel shared by the tests of a module."""
    yield from _running(PYTHON, request)


@pytest.fixture(scope="module")
def r(request: pytest.FixtureRequest) -> Iterator[Subkernel]:
    """An IRkernel shared by the tests of a module."""
    yield from _running(R, request)


@pytest.fixture(scope="module")
def julia(request: pytest.FixtureRequest) -> Iterator[Subkernel]:
    """The offline Julia kernel in its container, shared by the tests of a module."""
    yield from _running(JULIA, request)


@pytest.fixture
def fresh(kernel: Subkernel) -> Subkernel:
    """The module's kernel with no user variables."""
    kernel.reset()
    return kernel


@pytest.fixture
def scratch(kernel: Subkernel, tmp_path: Path) -> str:
    """A directory path for this test's checkpoints, as the kernel sees it (not created)."""
    return kernel.language.scratch(tmp_path)
