"""Fixtures of the protocol tests: Beaker kernels in each language, with the scripted model.

One Beaker kernel per language serves the tests of the whole session (starting R and
Julia subkernels is slow); each test sets its context up first, so tests do not depend
on each other's state. Tests that need a kernel started differently start their own.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from queue import Empty
from typing import Any

import pytest
from jupyter_client.manager import KernelManager

from ..client import BeakerClient, Exchange, start_beaker
from ..conftest import scripted_model_env
from ..julia_kernel.conftest import KERNEL_NAME as JULIA_KERNEL_NAME
from ..julia_kernel.conftest import (  # noqa: F401 - fixtures the Julia kernel needs
    container_label,
    julia_image,
    julia_kernelspec_dir,
)

CONTEXTS = Path(__file__).resolve().parent / "contexts"

LANGUAGES = ("python3", "rlang", "julia")
#: What get_info() reports for each language: (language, subkernel).
NAMES = {
    "python3": ("Python 3", "python3"),
    "rlang": ("R", "ir"),
    "julia": ("Julia", JULIA_KERNEL_NAME),
}
#: Small programs in each language.
CODE = {
    "python3": {
        "assign": "answer = 42",
        "read": "print(answer)",
        "print": "print('hi')",
        "double": "doubled = answer * 2\nprint(doubled)",
        "raise": "raise ValueError('boom')",
        "error_name": "ValueError",
    },
    "rlang": {
        "assign": "answer <- 42L",
        "read": "cat(answer, '\\n')",
        "print": "cat('hi\\n')",
        "double": "doubled <- answer * 2L\ncat(doubled, '\\n')",
        "raise": "stop('boom')",
        "error_name": "ERROR",
    },
    "julia": {
        "assign": "answer = 42",
        "read": "println(answer)",
        "print": 'println("hi")',
        "double": "doubled = answer * 2\nprintln(doubled)",
        "raise": 'error("boom")',
        "error_name": "ErrorException",
    },
}


def language_params() -> list[Any]:
    return [
        pytest.param("python3"),
        pytest.param("rlang", marks=pytest.mark.r),
        pytest.param("julia", marks=pytest.mark.julia),
    ]


@dataclass
class Trace:
    """Everything one request caused: its reply and *every* iopub message until its idle,
    whatever their parent, in the order they arrived."""

    request: dict[str, Any]
    reply: dict[str, Any]
    iopub: list[dict[str, Any]] = field(default_factory=list)
    #: Shell replies to other requests that arrived before this request's reply.
    other_replies: list[dict[str, Any]] = field(default_factory=list)

    @property
    def msg_id(self) -> str:
        return str(self.request["header"]["msg_id"])

    @property
    def content(self) -> dict[str, Any]:
        return dict(self.reply["content"])

    def mine(self) -> list[dict[str, Any]]:
        """The iopub messages parented to the request."""
        return [m for m in self.iopub if m["parent_header"].get("msg_id") == self.msg_id]

    def types(self, *, copies: bool = True) -> list[str]:
        return [
            m["msg_type"] for m in self.mine() if copies or not m["msg_type"].startswith("beaker__")
        ]

    def of_type(self, msg_type: str) -> list[dict[str, Any]]:
        return [m for m in self.mine() if m["msg_type"] == msg_type]

    def one(self, msg_type: str) -> dict[str, Any]:
        found = self.of_type(msg_type)
        assert len(found) == 1, f"expected one {msg_type}, got {self.types()}"
        return dict(found[0]["content"])

    def stream(self, name: str = "stdout") -> str:
        return "".join(
            m["content"]["text"] for m in self.of_type("stream") if m["content"]["name"] == name
        )


def send(
    client: BeakerClient,
    msg_type: str,
    content: Any = None,
    *,
    metadata: dict[str, Any] | None = None,
    timeout: float = 90,
) -> Trace:
    """Send a shell request and collect its :class:`Trace`."""
    msg = client.session.msg(msg_type, {} if content is None else content, metadata=metadata)
    client.shell_channel.send(msg)
    return collect(client, msg, timeout=timeout)


def collect(client: BeakerClient, msg: dict[str, Any], *, timeout: float = 90) -> Trace:
    msg_id = msg["header"]["msg_id"]
    deadline = time.monotonic() + timeout
    iopub: list[dict[str, Any]] = []
    while True:
        try:
            m = client.get_iopub_msg(timeout=max(0.01, deadline - time.monotonic()))
        except Empty:
            raise TimeoutError(
                f"No idle for {msg['header']['msg_type']} in time; got "
                f"{[(x['msg_type'], x['parent_header'].get('msg_id')) for x in iopub]}"
            ) from None
        iopub.append(m)
        if (
            m["parent_header"].get("msg_id") == msg_id
            and m["msg_type"] == "status"
            and m["content"]["execution_state"] == "idle"
        ):
            break
    others: list[dict[str, Any]] = []
    while True:
        reply = client.get_shell_msg(timeout=max(1, deadline - time.monotonic()))
        if reply["parent_header"].get("msg_id") == msg_id:
            return Trace(msg, reply, iopub, others)
        others.append(reply)


@dataclass
class Kernel:
    """A Beaker kernel whose default context runs in ``language``."""

    km: KernelManager
    client: BeakerClient
    language: str
    script_path: Path
    log_path: Path

    @property
    def display_name(self) -> str:
        return NAMES[self.language][0]

    @property
    def subkernel(self) -> str:
        return NAMES[self.language][1]

    @property
    def code(self) -> dict[str, str]:
        return CODE[self.language]

    def setup(
        self,
        context: str = "default",
        context_info: Any = None,
        *,
        language: str | None = None,
        **extra: Any,
    ) -> Trace:
        """Set ``context`` up (a fresh context object, so a fresh agent) and check it worked."""
        self.client.drain_iopub()
        trace = send(
            self.client,
            "context_setup_request",
            {
                "context": context,
                "language": language or self.language,
                "context_info": {} if context_info is None else context_info,
                **extra,
            },
        )
        assert trace.content["status"] == "ok", trace.content
        return trace

    def script(self, steps: list[dict[str, Any]], context: str = "default") -> None:
        """The scripted model's next steps; the agent made after this reads them."""
        self.script_path.write_text(json.dumps(steps))
        self.log_path.unlink(missing_ok=True)
        self.setup(context)
        self.client.drain_iopub()

    def run(self, code: str, **kw: Any) -> Trace:
        content = {
            "code": code,
            "silent": False,
            "store_history": True,
            "user_expressions": {},
            "allow_stdin": False,
            "stop_on_error": True,
        }
        return send(self.client, "execute_request", content, **kw)

    def run_settled(self, code: str) -> Trace:
        """Run ``code`` and wait for its post-execute ``kernel_state_info``."""
        trace = self.run(code)
        assert trace.content["status"] == "ok", trace.content
        self.client.wait_for_iopub("kernel_state_info", parent_id=trace.msg_id, timeout=60)
        return trace

    def model_calls(self) -> list[dict[str, Any]]:
        if not self.log_path.exists():
            return []
        return [json.loads(line) for line in self.log_path.read_text().splitlines()]


def kernel_env(tmp: Path, language: str, extra: dict[str, str] | None = None) -> dict[str, str]:
    return {
        **scripted_model_env(tmp / "script.json", tmp / "model.log"),
        "BEAKER_CONTEXT_PATH": str(CONTEXTS),
        "BEAKER_DEFAULT_CONTEXT_LANGUAGE": language,
        "LLM_SERVICE_MODEL": "",
        "LLM_SERVICE_TOKEN": "",
        **(extra or {}),
    }


def start_kernel(
    tmp: Path, language: str, extra: dict[str, str] | None = None, *, wait: bool = True
) -> Kernel:
    env = kernel_env(tmp, language, extra)
    (tmp / "script.json").write_text("[]")
    km, client = start_beaker(env, startup_timeout=120, wait=wait)
    return Kernel(km, client, language, tmp / "script.json", tmp / "model.log")


def stop_kernel(kernel: Kernel) -> None:
    kernel.client.stop_channels()
    if kernel.km.has_kernel:
        kernel.km.shutdown_kernel(now=False)


@pytest.fixture(scope="session", params=language_params())
def kernel(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Kernel]:
    """A Beaker kernel per language, shared by the session's tests."""
    language: str = request.param
    extra: dict[str, str] = {}
    if language == "julia":
        extra["JUPYTER_PATH"] = str(request.getfixturevalue("julia_kernelspec_dir"))
    started = start_kernel(tmp_path_factory.mktemp(f"protocol-{language}"), language, extra)
    try:
        yield started
    finally:
        stop_kernel(started)


@pytest.fixture
def python_kernel(tmp_path: Path) -> Iterator[Any]:
    """Start a Python Beaker kernel with extra environment variables, for one test."""
    started: list[Kernel] = []

    def start(extra: dict[str, str] | None = None, *, wait: bool = True) -> Kernel:
        folder = tmp_path / f"kernel{len(started)}"
        folder.mkdir()
        kernel = start_kernel(folder, "python3", extra, wait=wait)
        started.append(kernel)
        return kernel

    try:
        yield start
    finally:
        for kernel in started:
            stop_kernel(kernel)


def keys(value: Any) -> set[str]:
    assert isinstance(value, dict), f"expected an object, got {value!r}"
    return set(value)


@pytest.fixture
def csv_file(tmp_path: Path) -> Path:
    path = tmp_path / "cities.csv"
    path.write_text(
        "city,country,population,area\n"
        "Lagos,Nigeria,15388000,1171.3\n"
        "Lima,Peru,10719000,2672.3\n"
        "Oslo,Norway,709000,454.0\n"
        "Perth,Australia,2192000,6417.9\n"
    )
    return path


__all__ = ["Exchange", "Kernel", "Trace", "collect", "send"]
