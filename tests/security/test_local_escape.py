"""A Beaker kernel of ``beaker serve`` imports nothing from the notebook's folder.

Jupyter starts the kernel of a notebook session in the notebook's folder, where user code
writes files. Python would put that folder first on ``sys.path`` (``python -m``), so a
``json.py`` written there would run inside the Beaker kernel, which holds the service's
token and the LLM keys. The kernelspec starts Python in safe-path mode (``-P``).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from ..service.conftest import Service, start_service, stop_service

pytestmark = [pytest.mark.security, pytest.mark.slow, pytest.mark.timeout(180)]

#: Modules the Beaker kernel imports while it starts, sets a context up or runs a cell.
SHADOWED = ("asyncio", "base64", "bisect", "hmac", "jinja2", "json", "random", "uuid", "zmq")

SHADOW = """\
import importlib, os, sys
with open(os.path.join({markers!r}, "{name}.%d" % os.getpid()), "w") as _f:
    _f.write(" ".join(sys.argv))
# Step aside: the real module takes this one's place, and the importer carries on.
_here = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != _here]
del sys.modules[__name__]
sys.modules[__name__] = importlib.import_module(__name__)
"""


def beaker_kernels_in(folder: Path) -> list[int]:
    """Pids of the Beaker kernel processes whose working directory is ``folder``."""
    found = []
    for process in psutil.process_iter(["cmdline"]):
        try:
            if "beaker_kernel.kernel" in " ".join(process.info["cmdline"] or []) and (
                process.cwd() == str(folder)
            ):
                found.append(process.pid)
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return found


@pytest.fixture
def service(tmp_path: Path) -> Iterator[Service]:
    svc = start_service(tmp_path)
    try:
        yield svc
    finally:
        stop_service(svc)


def test_beaker_kernel_imports_nothing_from_the_notebook_folder(
    service: Service, tmp_path: Path
) -> None:
    project = tmp_path / "project"
    markers = tmp_path / "markers"
    project.mkdir()
    markers.mkdir()
    for name in SHADOWED:
        (project / f"{name}.py").write_text(SHADOW.format(markers=str(markers), name=name))

    response = service.http(
        "POST",
        "/api/sessions",
        {
            "path": "project/analysis.ipynb",
            "name": "analysis.ipynb",
            "type": "notebook",
            "kernel": {"name": "beaker_kernel"},
        },
    )
    assert response.status == 201, response.body
    session = response.json()
    beaker_id = session["kernel"]["id"]
    service.wait_for_kernels(lambda ks: len(ks) == 2)
    ws = service.connect(beaker_id)
    try:
        reply, stdout = ws.execute("print(6 * 7)")
        assert reply["content"]["status"] == "ok", reply["content"]
        assert stdout == "42\n"
        reply, _ = ws.request(
            "context_setup_request",
            {"context": "default", "language": "python3", "context_info": {}},
        )
        assert reply["content"]["status"] == "ok", reply["content"]
        reply, _ = ws.request("get_subkernel_state_request")
        assert reply["content"]["status"] == "ok", reply["content"]
    finally:
        ws.close()

    # The kernel really runs in the notebook's folder ...
    assert beaker_kernels_in(project)
    # ... and imported none of the modules there.
    assert sorted(p.name for p in markers.iterdir()) == []
    assert service.http("DELETE", f"/api/sessions/{session['id']}").status == 204
