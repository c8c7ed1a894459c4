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


def test_bundled_contexts_and_procedures_are_installed() -> None:
    import beaker_kernel

    package = Path(beaker_kernel.__file__).parent
    for path in [
        "bundled/contexts/default/context.py",
        "bundled/contexts/dataset/procedures/rlang/describe.jinja",
        "bundled/procedures/julia/state.jinja",
        "kernelspec/kernel.json",
    ]:
        assert (package / path).is_file(), path
