"""Context classes without a kernel: discovery, languages, tool toggles, procedures."""

from __future__ import annotations

from pathlib import Path

import pytest

from beaker_kernel.contexts.base import BeakerContext
from beaker_kernel.contexts.procedures import ProcedureSet
from beaker_kernel.contexts.registry import ContextRegistry
from beaker_kernel.errors import ProcedureNotFoundError, ProcedureRenderError, UnknownContextError


def test_registry_finds_bundled_and_folder_contexts(context_path: Path) -> None:
    registry = ContextRegistry()
    contexts = registry.all()
    assert {"default", "dataset", "pyonly"} <= set(contexts)
    assert contexts["pyonly"].languages() == {"python3"}
    assert contexts["dataset"].languages() == {"python3", "rlang", "julia"}
    assert contexts["default"].languages() is None
    with pytest.raises(UnknownContextError, match=r"Available contexts: .*dataset"):
        registry.get("nope")


def test_broken_context_folder_is_reported_not_fatal(tmp_path: Path) -> None:
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "context.py").write_text("raise RuntimeError('bad import')\n")
    registry = ContextRegistry(context_path=[str(tmp_path)])
    assert "default" in registry.all()
    with pytest.raises(UnknownContextError, match="bad import"):
        registry.get("broken")


class Toggled(BeakerContext):
    slug = "toggled"
    TOOL_ENABLED_RUN_CODE = "False"


class Plain(BeakerContext):
    slug = "plain"


def test_tool_toggles(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TOOL_ENABLED_RUN_CODE", "true")
    monkeypatch.setenv("TOOL_ENABLED_ASK_USER", "FALSE")
    assert Toggled.tool_enabled("run_code") is False  # the class wins over the environment
    assert Plain.tool_enabled("run_code") is True  # no leaking between contexts
    assert Plain.tool_enabled("ask_user") is False  # case-insensitive value
    assert Plain.tool_enabled("Ask_User") is False  # case-insensitive name
    assert Plain.tool_enabled("something_else") is True  # default: enabled
    monkeypatch.setenv("TOOL_ENABLED_ASK_USER", "maybe")
    with pytest.raises(ValueError, match="true or false"):
        Plain.tool_enabled("ask_user")


def test_procedures_render_strictly_and_without_escaping(tmp_path: Path) -> None:
    folder = tmp_path / "python3"
    folder.mkdir()
    (folder / "greet.jinja").write_text("print({{ name | tojson }}, '<b>{{ raw }}</b>')\n")
    procedures = ProcedureSet("python3", [tmp_path])
    assert procedures.render("greet", name='O"Neil', raw="&") == 'print("O\\"Neil", \'<b>&</b>\')\n'
    with pytest.raises(ProcedureRenderError, match="raw"):
        procedures.render("greet", name="x")
    with pytest.raises(ProcedureNotFoundError, match="missing"):
        procedures.render("missing")


def test_literals_for_every_language(tmp_path: Path) -> None:
    folder = tmp_path / "julia"
    folder.mkdir()
    (folder / "show.jinja").write_text("println({{ text | julia_literal }})\n")
    procedures = ProcedureSet("julia", [tmp_path])
    # no interpolation, and characters outside the BMP stay whole (no surrogate pairs)
    assert procedures.render("show", text="cost $x 😀") == 'println("cost \\$x 😀")\n'
    with pytest.raises(ProcedureRenderError, match="finite number"):
        procedures.render("show", text=float("inf"))
