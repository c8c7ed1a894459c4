"""The development interface (``beaker serve --dev-ui``), clicked through in headless Chromium.

run_dev_ui.mjs logs in, chooses a context, runs Python and R cells, asks the agent (the
scripted model), answers its question, interrupts a long cell, saves the notebook and
opens it again; each step leaves a screenshot. Each test checks one step of that run.

The screenshots go to a folder of the test run (under ``BEAKER_BROWSER_REPORTS`` when it is
set), so running the tests changes no tracked file; with ``BEAKER_UPDATE_SCREENSHOTS=1``
they replace the ones docs/dev-ui.md shows, in docs/images/dev-ui/.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .conftest import HERE, NODE, REPO, SERVICE_LOGS, LocalService, start_local_service
from .conftest import stop_local_service as stop_service
from .pagerun import REPORTS

pytestmark = [pytest.mark.browser, pytest.mark.timeout(900)]

DOC_SCREENSHOTS = REPO / "docs" / "images" / "dev-ui"
EXPECTED_SCREENSHOTS = [
    "01-login",
    "02-context",
    "03-python",
    "04-agent",
    "05-ask-user",
    "06-answered",
    "07-interrupted",
    "08-r",
    "09-saved",
    "10-reopened",
]
#: The page's first paint may take this long on the test machine (the stated budget).
LOAD_BUDGET_MS = 1000


@pytest.fixture(scope="module")
def dev_service(
    tmp_path_factory: pytest.TempPathFactory, node_modules: Path
) -> Iterator[LocalService]:
    service = start_local_service(tmp_path_factory.mktemp("dev-ui"), "--dev-ui")
    SERVICE_LOGS.append(service.log)
    try:
        page = service.http("GET", "/dev/", token=None)
        assert page.status == 200, f"the installed Beaker has no page: {page.body.decode()}"
        yield service
    finally:
        SERVICE_LOGS.remove(service.log)
        stop_service(service)


class ClickThrough:
    """What run_dev_ui.mjs printed, with look-ups that fail with readable messages."""

    def __init__(self, report: dict[str, Any], started: float) -> None:
        self.report = report
        self.started = started

    def step(self, name: str) -> Any:
        steps = self.report["steps"]
        assert name in steps, f"the run never reached {name!r}: {self.report.get('fatal')}"
        entry = steps[name]
        if not entry["ok"]:
            details = {k: v for k, v in entry.items() if k not in ("ok", "messages")}
            raise AssertionError(
                f"step {name!r} failed: {entry['error']['message']}\n"
                f"what the page showed: {json.dumps(details, indent=1)[:4000]}\n"
                f"the last kernel messages: {json.dumps(entry.get('messages'), indent=1)[:6000]}"
            )
        return entry["value"]


@pytest.fixture(scope="module")
def screenshots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where this run's screenshots go (see the module's docstring)."""
    if os.environ.get("BEAKER_UPDATE_SCREENSHOTS") == "1":
        return DOC_SCREENSHOTS
    if REPORTS:
        folder = Path(REPORTS) / "dev-ui-screenshots"
        folder.mkdir(parents=True, exist_ok=True)
        return folder
    return tmp_path_factory.mktemp("dev-ui-screenshots")


@pytest.fixture(scope="module")
def click_through(dev_service: LocalService, screenshots: Path) -> ClickThrough:
    started = time.time()
    result = subprocess.run(
        [
            NODE,
            str(HERE / "run_dev_ui.mjs"),
            "--base",
            dev_service.url,
            "--token",
            dev_service.token,
            "--screenshots",
            str(screenshots),
        ],
        cwd=HERE,
        capture_output=True,
        text=True,
        timeout=1500,
        check=False,
    )
    if result.returncode != 0 or not result.stdout.strip():
        raise AssertionError(f"run_dev_ui.mjs failed:\n{result.stdout}\n{result.stderr}")
    report: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    if REPORTS:
        Path(REPORTS).mkdir(parents=True, exist_ok=True)
        (Path(REPORTS) / "dev-ui.json").write_text(json.dumps(report, indent=1))
    return ClickThrough(report, started)


def test_login_refuses_a_wrong_token_and_sets_no_cookie(click_through: ClickThrough) -> None:
    login = click_through.step("login")
    assert login["refused"] == "The service refused this token."
    assert login["cookies"] == ""


def test_page_loads_within_budget_and_forgets_the_url_token(click_through: ClickThrough) -> None:
    load = click_through.step("load")
    assert load["load_event_ms"] < LOAD_BUDGET_MS, load
    # the token leaves the address bar and stays in this tab only
    assert load["hash"] == ""
    assert load["kept"] is True
    assert load["cookies"] == ""
    script = next(r for r in load["resources"] if r["name"].endswith(".js"))
    assert script["bytes"] < script["decoded"], "the script is sent compressed"


def test_choose_context(click_through: ClickThrough) -> None:
    chosen = click_through.step("choose_context")
    assert chosen["active"] == "python3 (python3)"
    assert chosen["label"] == "default · python3"


def test_python_cells_render_their_outputs(click_through: ClickThrough) -> None:
    cells = click_through.step("python_cells")
    assert cells["hello"]["outputs"] == "hello from the dev UI\n"
    assert cells["hello"]["status"] == "ok"
    assert cells["hello"]["gutter"] == "[1]"
    rich = cells["rich"]["html"]
    assert '<div class="html-output"><b>bold</b> <i>html</i></div>' in rich
    assert 'src="data:image/png;base64,' in rich
    assert 'width="64"' in rich
    failing = cells["failing"]
    assert failing["status"] == "error"
    assert 'data-ename="ZeroDivisionError"' in failing["html"]
    assert "Traceback" in failing["outputs"]
    assert "<h1>Notes</h1>" in cells["markdown"]
    assert "<em>emphasis</em>" in cells["markdown"]
    # the kernel state panel (kernel_state_info) lists the variable the cell made
    assert "x" in cells["state"]
    assert "42" in cells["state"]


def test_agent_child_cell_fills(click_through: ClickThrough) -> None:
    cell = click_through.step("agent")
    kinds = [event["class"] for event in cell["events"]]
    assert kinds == ["event thought", "event response"], cell["events"]
    assert "run_code" in cell["events"][0]["text"]
    assert "The answer is 42." in cell["events"][1]["text"]
    assert len(cell["children"]) == 1
    child = cell["children"][0]
    assert child["source"] == "print(6 * 7)"
    assert child["outputs"].strip() == "42"
    assert child["status"] == "ok"


def test_ask_user_is_answered_in_the_page(click_through: ClickThrough) -> None:
    cell = click_through.step("ask_user")
    texts = [event["text"] for event in cell["events"]]
    assert any("Which number?" in text for text in texts), texts
    assert any(text.endswith("7") and "you" in text.lower() for text in texts), texts
    assert "You chose 7." in texts[-1]
    assert cell["status"] == "idle"


def test_interrupt_stops_a_long_cell(click_through: ClickThrough) -> None:
    cell = click_through.step("interrupt")
    assert cell["interrupt_ms"] < 5000
    # the cell's only printed line is the one before the sleep
    stdout = '<div class="output stream stdout"><pre class="text">sleeping\n</pre></div>'
    assert cell["html"].startswith(stdout)
    assert cell["html"].count("output stream") == 1
    assert 'data-ename="KeyboardInterrupt"' in cell["html"]


def test_r_cells(click_through: ClickThrough) -> None:
    cells = click_through.step("r_cells")
    assert cells["context"]["active"] == "rlang (ir)"
    assert cells["hello"]["outputs"] == "hello from R\n"
    assert cells["failing"]["status"] == "error"
    assert "boom" in cells["failing"]["outputs"]


def test_save_and_reopen(click_through: ClickThrough, dev_service: LocalService) -> None:
    saved = click_through.step("save")
    notebook = json.loads((dev_service.work / "dev-ui-test.ipynb").read_text())
    sources = ["".join(cell["source"]) for cell in notebook["cells"]]
    assert 'print("hello from the dev UI")' in sources
    assert 'stop("boom")' in sources
    # a query cell is saved as upstream's Beaker UI saves it: a markdown cell with its events
    queries = [c for c in notebook["cells"] if c["metadata"].get("beaker_cell_type") == "query"]
    assert [q["metadata"]["prompt"] for q in queries] == [
        "python: what is six times seven?",
        "ask me for a number",
    ]
    reopened = click_through.step("reopen")
    assert reopened["cells"] == saved["cells"]
    assert "hello from the dev UI\n" in reopened["outputs"]
    assert any("You chose 7." in text for text in reopened["events"])


def test_sign_out_stops_the_kernel_and_forgets_the_token(
    click_through: ClickThrough, dev_service: LocalService
) -> None:
    signed_out = click_through.step("sign_out")
    assert signed_out["kept"] is None
    kernels = [kernel["id"] for kernel in dev_service.kernels()]
    assert signed_out["kernel"] not in kernels


def test_screenshots_of_every_step(click_through: ClickThrough, screenshots: Path) -> None:
    missing = []
    for name in EXPECTED_SCREENSHOTS:
        path = screenshots / f"{name}.png"
        if not path.is_file() or path.stat().st_mtime < click_through.started:
            missing.append(name)
    assert not missing, f"screenshots not written by this run: {missing}"


def test_no_page_errors(click_through: ClickThrough) -> None:
    report = click_through.report
    # The login step offers a wrong token on purpose: its 403 is expected, once.
    refused = [r for r in report["httpErrors"] if r["url"].endswith("/api/status")]
    assert [r["status"] for r in refused] == [403]
    problems = {
        "fatal": [report["fatal"]] if report.get("fatal") else [],
        "page errors": report["pageErrors"],
        "console errors": [
            e
            for e in report["consoleErrors"]
            if not (e["location"].get("url", "").endswith("/api/status") and "403" in e["text"])
        ],
        "failed requests": [
            r for r in report["requestFailures"] if not 200 <= (r.get("status") or 0) < 300
        ],
        "HTTP errors": [r for r in report["httpErrors"] if not r["url"].endswith("/api/status")],
    }
    found = {kind: items for kind, items in problems.items() if items}
    assert not found, f"problems in the page: {json.dumps(found, indent=1)}"


def test_screenshot_folder_is_the_documented_one() -> None:
    doc = (REPO / "docs" / "dev-ui.md").read_text()
    for name in EXPECTED_SCREENSHOTS:
        assert f"images/dev-ui/{name}.png" in doc, name
        assert (DOC_SCREENSHOTS / f"{name}.png").is_file(), name
