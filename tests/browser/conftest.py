"""Browser tests: beaker-ts, unmodified, drives the Beaker service from headless Chromium.

What the session sets up, once:

* ``npm ci`` in this folder when ``node_modules`` is missing or older than
  ``package-lock.json`` (beaker-kernel 1.13.0, esbuild, puppeteer-core, all pinned);
* ``beaker-kernel/src/index`` bundled for the browser by esbuild into a temporary folder
  (an IIFE with the global ``beaker``; nothing built is committed);
* a static file server for the test pages on its own loopback port, so the service sees
  a real cross-origin browser client.

Per module, a real ``beaker serve`` on another loopback port with a known token and the
scripted model (:mod:`tests.browser.scripted_replies`) configured as the agent tests do
it, through ``LLM_PROVIDER_IMPORT_PATH``. ``node run_page.mjs`` opens a page in Debian's
``chromium`` (puppeteer-core) and prints what the page collected as JSON.

Node (``/usr/bin/node``, or ``BEAKER_NODE``) and Chromium (``/usr/bin/chromium``, or
``BEAKER_CHROMIUM``) must be installed; .ci/run installs Chromium. A missing tool fails
the tests, it never skips them.
"""

from __future__ import annotations

import functools
import hashlib
import http.server
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from ..packages import REPO
from ..service_client import ServiceClient, free_port

HERE = Path(__file__).resolve().parent
NODE = os.environ.get("BEAKER_NODE", "/usr/bin/node")
CHROMIUM = os.environ.get("BEAKER_CHROMIUM", "/usr/bin/chromium")
SCRIPTED_MODEL = "tests.browser.scripted_replies:RepliesByRequest"
#: esbuild options for beaker-ts: JupyterLab's UI packages import SVG and CSS files.
ESBUILD_FLAGS = [
    "--bundle",
    "--platform=browser",
    "--format=iife",
    "--global-name=beaker",
    "--loader:.svg=text",
    "--loader:.css=empty",
    '--define:process.env.NODE_ENV="production"',
    "--log-level=warning",
]

#: What the agent answers in the browser tests, by request (see scripted_replies.py).
AGENT_SCRIPT = HERE / "agent_script.json"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "browser: drives the service from headless Chromium with beaker-ts (npm)"
    )


# --------------------------------------------------------------------------- tools


def _require(path: str, what: str) -> None:
    if shutil.which(path) is None:
        pytest.fail(
            f"{what} is not installed at {path}; .ci/run installs it (apt-get install {what})"
        )


def ensure_node_modules(folder: Path = HERE) -> Path:
    """``npm ci`` in ``folder`` unless its node_modules matches package-lock.json."""
    stamp = folder / "node_modules" / ".beaker-lock-sha256"
    digest = hashlib.sha256((folder / "package-lock.json").read_bytes()).hexdigest()
    if stamp.is_file() and stamp.read_text().strip() == digest:
        return folder / "node_modules"
    npm = shutil.which("npm")
    if npm is None:
        pytest.fail("npm is not installed: the browser tests install their npm packages with it")
    result = subprocess.run(
        [npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    if result.returncode != 0:
        pytest.fail(f"npm ci in {folder} failed:\n{result.stdout}\n{result.stderr}")
    stamp.write_text(digest + "\n")
    return folder / "node_modules"


@pytest.fixture(scope="session")
def node_modules() -> Path:
    _require(NODE, "node")
    _require(CHROMIUM, "chromium")
    return ensure_node_modules()


@pytest.fixture(scope="session")
def beaker_bundle(node_modules: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """beaker-ts (``beaker-kernel/src/index``, unmodified) as one browser script."""
    out = tmp_path_factory.mktemp("bundle") / "beaker.js"
    entry = out.parent / "entry.js"
    entry.write_text("export * from 'beaker-kernel/src/index';\n")
    result = subprocess.run(
        [str(node_modules / ".bin" / "esbuild"), str(entry), *ESBUILD_FLAGS, f"--outfile={out}"],
        cwd=HERE,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, "NODE_PATH": str(node_modules)},
    )
    if result.returncode != 0 or not out.is_file():
        pytest.fail(f"esbuild could not bundle beaker-kernel:\n{result.stderr}")
    return out


# --------------------------------------------------------------------------- pages


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        return None

    def end_headers(self) -> None:
        self.send_header("Cache-Control", "no-store")
        super().end_headers()


@dataclass
class PageServer:
    """Static files (the test pages and the bundle) on their own loopback origin."""

    url: str
    root: Path

    def page(self, name: str, **query: str) -> str:
        from urllib.parse import urlencode

        return f"{self.url}/{name}?{urlencode(query)}"


@pytest.fixture(scope="session")
def page_server(
    beaker_bundle: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[PageServer]:
    root = tmp_path_factory.mktemp("pages")
    for source in (HERE / "page").iterdir():
        shutil.copy(source, root / source.name)
    shutil.copy(beaker_bundle, root / "beaker.js")
    port = free_port()
    handler = functools.partial(_QuietHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), handler)
    thread = threading.Thread(target=server.serve_forever, name="page-server", daemon=True)
    thread.start()
    try:
        yield PageServer(f"http://127.0.0.1:{port}", root)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)


def run_page(url: str, *, timeout: float = 600, screenshot: Path | None = None) -> dict[str, Any]:
    """Open ``url`` in headless Chromium until the page is done; what it reported."""
    command = [NODE, str(HERE / "run_page.mjs"), url, "--timeout", str(timeout)]
    if screenshot is not None:
        command += ["--screenshot", str(screenshot)]
    result = subprocess.run(
        command, cwd=HERE, capture_output=True, text=True, timeout=timeout + 120, check=False
    )
    if result.returncode != 0 or not result.stdout.strip():
        raise AssertionError(
            f"the browser runner failed ({result.returncode}):\n{result.stdout}\n{result.stderr}"
        )
    report: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    return report


# --------------------------------------------------------------------------- service


@dataclass
class BrowserTarget(ServiceClient):
    """A Beaker service the browser talks to: its URL and token (local or compose)."""

    url: str
    token: str


@dataclass
class LocalService(BrowserTarget):
    process: subprocess.Popen[bytes]
    log_path: Path
    model_log: Path
    #: the service's working directory: the root of its contents API
    work: Path

    def log(self, lines: int = 300) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])


def start_local_service(
    tmp_path: Path, *args: str, command: list[str] | None = None
) -> LocalService:
    """``beaker serve [args]`` on a free loopback port, with the scripted model.

    ``command`` replaces ``python -m beaker_kernel.cli serve`` (``args`` follow it).
    """
    port = free_port()
    token = "browser-" + uuid.uuid4().hex
    model_log = tmp_path / "model.log"
    log_path = tmp_path / "service.log"
    env = {
        **os.environ,
        "BEAKER_PORT": str(port),
        "BEAKER_TOKEN": token,
        "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime"),
        "PYTHONPATH": str(REPO),
        "LLM_PROVIDER_IMPORT_PATH": SCRIPTED_MODEL,
        "LLM_SERVICE_MODEL": "",
        "LLM_SERVICE_TOKEN": "",
        "BEAKER_TEST_MODEL_SCRIPT": str(AGENT_SCRIPT),
        "BEAKER_TEST_MODEL_LOG": str(model_log),
    }
    work = tmp_path / "work"
    work.mkdir(exist_ok=True)
    process = subprocess.Popen(
        [*(command or [sys.executable, "-m", "beaker_kernel.cli", "serve"]), *args],
        env=env,
        cwd=work,
        stdout=log_path.open("wb"),
        stderr=subprocess.STDOUT,
    )
    service = LocalService(f"http://127.0.0.1:{port}", token, process, log_path, model_log, work)
    deadline = time.monotonic() + 30
    while True:
        try:
            if service.http("GET", "/health", token=None).status == 200:
                return service
        except OSError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise RuntimeError(f"beaker serve did not start:\n{log_path.read_text()}")
        time.sleep(0.2)


def stop_local_service(service: LocalService) -> None:
    if service.process.poll() is None:
        service.process.send_signal(signal.SIGTERM)
        try:
            service.process.wait(30)
        except subprocess.TimeoutExpired:
            service.process.kill()
            service.process.wait()


#: How to read the log of each service running now (their logs go into failure reports).
SERVICE_LOGS: list[Callable[[], str]] = []


@pytest.fixture(scope="module")
def local_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalService]:
    service = start_local_service(tmp_path_factory.mktemp("service"))
    SERVICE_LOGS.append(service.log)
    try:
        yield service
    finally:
        SERVICE_LOGS.remove(service.log)
        stop_local_service(service)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """Add the service's log (the Beaker kernels' included) to a failed test's report."""
    outcome = yield
    report: pytest.TestReport = outcome.get_result()
    if report.failed and item.get_closest_marker("browser") and SERVICE_LOGS:
        try:
            log = SERVICE_LOGS[-1]()
        except (OSError, AssertionError, subprocess.SubprocessError) as e:
            log = f"(could not read the service log: {e})"
        report.sections.append(("service log (last 300 lines)", log))
