"""Subkernels that cannot start: requests get an error at once and the kernel stays usable."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from beaker_kernel.kernel import BeakerKernelApp

from ..client import running_beaker


def python_kernelspec(folder: Path, starter: str, display_name: str) -> None:
    """A "python3" kernelspec in ``folder``, first on JUPYTER_PATH, running ``starter``."""
    spec = folder / "kernels" / "python3"
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(
        json.dumps(
            {
                "argv": [sys.executable, "-c", starter, "-f", "{connection_file}"],
                "display_name": display_name,
                "language": "python",
            }
        )
    )


def test_subkernel_that_exits_at_start(tmp_path: Path) -> None:
    # A "python3" kernelspec whose process notes each start and exits at once.
    starts = tmp_path / "starts"
    python_kernelspec(
        tmp_path,
        f"import sys; open({str(starts)!r}, 'a').write('x'); sys.exit(3)",
        "Broken Python",
    )
    # No waiting for the kernel: the requests arrive while the start is failing.
    with running_beaker({"JUPYTER_PATH": str(tmp_path)}, wait=False) as (_, client):
        error = client.start_error()
        assert "'python3' kernel exited while starting, 3 times, on new ports each time" in error
        assert "says why" in error
        assert starts.read_text() == "xxx"

        run = client.run("1 + 1", timeout=30)
        assert run.content["status"] == "error"
        assert run.content["evalue"].startswith("No subkernel is running:")
        assert "context_setup_request" in run.content["evalue"]
        assert run.of_type("error")[0]["ename"] == "SubkernelStartError"

        # another language starts and works
        setup = client.setup_context("default", "rlang", timeout=90)
        assert setup.content["status"] == "ok", setup.content
        answer = client.run("cat(6 * 7)", timeout=60)
        assert answer.content["status"] == "ok", answer.content
        assert answer.stdout() == "42"


def test_subkernel_that_exits_at_its_first_start_is_started_again(tmp_path: Path) -> None:
    # What a subkernel does when another process took one of its ports before it bound
    # it: it exits at once. Here the first start exits, the second one runs ipykernel.
    marker = tmp_path / "exited-once"
    starter = (
        "import os, sys\n"
        f"marker = {str(marker)!r}\n"
        "if not os.path.exists(marker):\n"
        "    open(marker, 'w').close()\n"
        "    sys.exit('Address already in use')\n"
        "from ipykernel.kernelapp import launch_new_instance\n"
        "launch_new_instance()\n"
    )
    python_kernelspec(tmp_path, starter, "Python, second time lucky")
    log = tmp_path / "beaker.log"
    with (
        log.open("wb") as stderr,
        running_beaker({"JUPYTER_PATH": str(tmp_path)}, log=stderr) as (_, client),
    ):
        assert client.run("print(6 * 7)").stdout() == "42\n"
        info = client.request("kernel_info_request").content
        assert info["status"] == "ok"
        assert info["language_info"]["name"] == "python"
    assert marker.exists()
    logged = log.read_text()
    assert (
        "The 'python3' kernel exited while starting (attempt 1 of 3); starting it again on"
        " new ports" in logged
    )
    assert "attempt 2 of 3" not in logged


def test_subkernel_that_cannot_restart_after_a_crash(tmp_path: Path) -> None:
    # A "python3" kernelspec that starts ipykernel once; started again, it exits.
    marker = tmp_path / "started-once"
    starter = (
        "import os, sys\n"
        f"marker = {str(marker)!r}\n"
        "if os.path.exists(marker): sys.exit(3)\n"
        "open(marker, 'w').close()\n"
        "from ipykernel.kernelapp import launch_new_instance\n"
        "launch_new_instance()\n"
    )
    python_kernelspec(tmp_path, starter, "Python once")
    with running_beaker({"JUPYTER_PATH": str(tmp_path)}) as (_, client):
        assert client.run("print('first')").stdout() == "first\n"
        crash = client.run("import os; os._exit(1)", timeout=30)
        assert crash.content["ename"] == "SubkernelDiedError"

        after = client.run("1 + 1", timeout=60)
        assert after.content["status"] == "error"
        assert after.content["ename"] == "SubkernelStartError"
        evalue = after.content["evalue"]
        assert "subkernel died unexpectedly" in evalue
        assert "Restarting it failed" in evalue
        assert "exited while starting" in evalue

        setup = client.setup_context("default", "rlang", timeout=90)
        assert setup.content["status"] == "ok", setup.content
        assert client.run("cat(1 + 1)", timeout=60).stdout() == "2"


def test_unknown_default_language() -> None:
    with running_beaker({"BEAKER_SUBKERNEL": "cobol"}, wait=False) as (_, client):
        # The answer comes at once, maybe before the client's iopub subscription is live:
        # wait for the reply only.
        info = client.request("kernel_info_request", timeout=60, wait_idle=False)
        assert info.content["status"] == "error"
        evalue = info.content["evalue"]
        assert evalue.startswith("No subkernel is running: Unknown language 'cobol'")
        setup = client.setup_context("default", "python3", timeout=90)
        assert setup.content["status"] == "ok", setup.content
        assert client.run("print(6 * 7)").stdout() == "42\n"


def test_subkernel_that_never_answers(tmp_path: Path) -> None:
    # A "python3" kernelspec whose process runs but never answers, and a short timeout.
    python_kernelspec(tmp_path, "import time; time.sleep(600)", "Silent Python")
    env = {"JUPYTER_PATH": str(tmp_path), "BEAKER_SUBKERNEL_STARTUP_TIMEOUT": "2"}
    with running_beaker(env, wait=False) as (_, client):
        assert "'python3' kernel did not answer within 2 s" in client.start_error()


def test_startup_timeout_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for value, seconds in (("2.5", 2.5), ("", 60.0), ("soon", 60.0), ("-1", 60.0)):
        monkeypatch.setenv("BEAKER_SUBKERNEL_STARTUP_TIMEOUT", value)
        assert BeakerKernelApp().subkernel_startup_timeout == seconds, value
