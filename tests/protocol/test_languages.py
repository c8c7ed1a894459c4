"""Every language name a front end may hold, and the ``subkernel`` name that round-trips.

Terarium stores ``context_setup_response.subkernel`` and sends it back as ``language``;
beaker-ts and the Beaker UI send subkernel slugs; container deployments have kernelspecs
named like ``ir-docker``. Each must reach the right subkernel, or fail clearly.
"""

from __future__ import annotations

from typing import Any

import pytest

from .conftest import Kernel, send

#: Names of each language a front end may send, besides the kernelspec actually used.
NAMES = {
    "python3": ["python3", "python3-docker"],
    "rlang": ["rlang", "ir", "ir-docker", "r-4.2"],
    "julia": ["julia", "julia-1.10", "julia-docker"],
}


def subkernel_in_every_reply(kernel: Kernel, setup_response: dict[str, Any]) -> str:
    """The ``subkernel`` name; the same in every message that carries it."""
    name = setup_response["subkernel"]
    info = send(kernel.client, "context_info_request").one("context_info_response")
    session = send(kernel.client, "beaker_session_info_request").content["return"]
    assert info["language"] == {"slug": kernel.language, "subkernel": name}
    assert info["info"]["subkernel"] == name
    assert session["subkernel"] == name
    return str(name)


def test_every_name_of_the_language_reaches_its_subkernel(kernel: Kernel) -> None:
    kernel.setup()
    assert kernel.run(kernel.code["assign"]).content["status"] == "ok"
    for name in [*NAMES[kernel.language], kernel.subkernel]:
        response = kernel.setup("protocheck", {}, language=name).one("context_setup_response")
        assert response["language"] == kernel.display_name, name
        assert subkernel_in_every_reply(kernel, response) == kernel.subkernel, name
    # same language all along: the subkernel (and its variables) stayed
    assert kernel.run(kernel.code["read"]).stream().strip() == "42"


def test_the_subkernel_name_round_trips(kernel: Kernel) -> None:
    first = kernel.setup("protocheck", {}).one("context_setup_response")["subkernel"]
    again = kernel.setup("protocheck", {}, language=first).one("context_setup_response")
    assert again["subkernel"] == first
    assert again["language"] == kernel.display_name


@pytest.mark.parametrize("kernel", ["python3"], indirect=True)
def test_an_unknown_language_is_a_clear_error(kernel: Kernel) -> None:
    kernel.setup("protocheck", {"keep": True})
    trace = send(
        kernel.client,
        "context_setup_request",
        {"context": "default", "language": "cobol", "context_info": {}},
    )
    assert trace.content["status"] == "error"
    assert trace.content["ename"] == "UnknownLanguageError"
    assert "Unknown language 'cobol'" in trace.content["evalue"]
    assert "python3" in trace.content["evalue"]
    assert "rlang" in trace.content["evalue"]
    response = send(kernel.client, "context_info_request").one("context_info_response")
    assert (response["slug"], response["config"]) == ("protocheck", {"keep": True})


@pytest.mark.parametrize("kernel", ["python3"], indirect=True)
def test_a_language_without_a_kernel_here_is_a_clear_error(kernel: Kernel) -> None:
    # Julia is a known language, but this kernel's machine has no Julia kernelspec
    kernel.setup("protocheck", {"keep": True})
    assert kernel.run(kernel.code["assign"]).content["status"] == "ok"
    for name in ("julia", "julia-1.10"):
        trace = send(
            kernel.client,
            "context_setup_request",
            {"context": "default", "language": name, "context_info": {}},
        )
        assert trace.content["status"] == "error", name
        assert trace.content["ename"] == "SubkernelUnavailableError"
        assert trace.content["evalue"].startswith("No kernel for Julia is installed")
    response = send(kernel.client, "context_info_request").one("context_info_response")
    assert (response["slug"], response["language"]["slug"]) == ("protocheck", "python3")
    assert kernel.run(kernel.code["read"]).stream() == "42\n"
