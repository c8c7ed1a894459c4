"""What the kernel process imports, and when: it reads its own import log
(``PYTHONPROFILEIMPORTTIME``). The agent's stack is checked in tests/agent.

The subkernel inherits the setting and writes to the same log; it imports none of the
modules checked here."""

from __future__ import annotations

from pathlib import Path

from ..client import imported_modules, running_beaker

#: What only contexts need: their base class and Jinja, which renders their procedures.
CONTEXT_STACK = {"jinja2", "beaker_kernel.lib.context", "beaker_kernel.lib.procedures"}


def test_a_kernel_without_a_context_starts_without_the_context_stack(tmp_path: Path) -> None:
    path = tmp_path / "imports.log"
    env = {"BEAKER_DEFAULT_CONTEXT": "none", "PYTHONPROFILEIMPORTTIME": "1"}
    with path.open("wb") as log, running_beaker(env, log=log) as (_, client):
        assert client.run("print(6 * 7)").stdout() == "42\n"
        info = client.request("kernel_info_request").content
        assert info["language_info"]["name"] == "python"
        before = imported_modules(path)
        assert "beaker_kernel.kernel.app" in before  # the log is the kernel's
        assert not before & CONTEXT_STACK

        assert client.setup_context("default", "python3").content["status"] == "ok"
        assert client.run("y = 1").content["status"] == "ok"
        assert imported_modules(path) >= CONTEXT_STACK
