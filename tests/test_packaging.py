"""What ``pip install .`` gives a user, with no further step."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path


def test_kernelspec_is_installed_with_the_package() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "jupyter", "kernelspec", "list", "--json"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    specs = json.loads(out)["kernelspecs"]
    assert "beaker_kernel" in specs
    spec = specs["beaker_kernel"]["spec"]
    # -P: nothing is imported from the working directory (a notebook's folder)
    assert spec["argv"][1:4] == ["-P", "-m", "beaker_kernel.kernel"]
    assert spec["interrupt_mode"] == "message"
    assert spec["metadata"]["beaker_kernel"] is True
    assert spec["metadata"]["kernel_provisioner"]["provisioner_name"] == (
        "beaker-kernel-provisioner"
    )
    # installed into the environment's own data directory, like ipykernel's spec
    resource_dir = Path(specs["beaker_kernel"]["resource_dir"])
    assert resource_dir.is_relative_to(Path(sys.prefix))


def test_beaker_command_is_installed() -> None:
    beaker = Path(sys.executable).parent / "beaker"
    result = subprocess.run([str(beaker), "--help"], capture_output=True, text=True, check=True)
    assert "beaker serve" in result.stdout
    assert "beaker kernel" in result.stdout


def test_bundled_contexts_and_procedures_are_found() -> None:
    """In a wheel they are inside the package; in a checkout (pip install -e .) they are
    the repository's folders. Either way the entry points and the shared procedures work."""
    import importlib

    from beaker_kernel.lib.procedures import shared_folder
    from beaker_kernel.lib.registry import ContextRegistry

    dataset = ContextRegistry().get("dataset")
    assert dataset.__module__ == "beaker_kernel.bundled.contexts.dataset.context"
    assert (dataset.context_folder() / "procedures" / "rlang" / "describe.jinja").is_file()
    assert (shared_folder() / "julia" / "state.jinja").is_file()
    module = importlib.import_module("beaker_kernel.bundled.contexts.default.context")
    assert module.DefaultContext.SLUG == "default"


def test_a_source_checkout_works_without_an_install(tmp_path: Path) -> None:
    """The bundled contexts resolve to the checkout when the package runs from src/."""
    repo = Path(__file__).resolve().parent.parent
    code = (
        "import beaker_kernel.bundled.contexts.default.context as m, sys\n"
        "from beaker_kernel.lib.procedures import shared_folder\n"
        "print(m.__file__); print(shared_folder())\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        env={"PYTHONPATH": str(repo / "src"), "PATH": "/usr/bin:/bin"},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    )
    module_file, procedures = result.stdout.split()
    assert Path(module_file) == repo / "contexts" / "default" / "context.py"
    assert Path(procedures) == repo / "procedures"
