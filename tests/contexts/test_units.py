"""The context API without a kernel: discovery, languages, tool toggles, procedures."""

from __future__ import annotations

import json
import logging
import textwrap
from pathlib import Path

import pytest

from beaker_kernel.errors import (
    ProcedureNotFoundError,
    ProcedureRenderError,
    UnknownContextError,
)
from beaker_kernel.lib.context import BaseContext, BeakerContext
from beaker_kernel.lib.procedures import ProcedureSet
from beaker_kernel.lib.registry import ContextRegistry
from beaker_kernel.lib.subkernel import discover_subkernels, get_subkernel


def test_registry_finds_bundled_and_folder_contexts(context_path: Path) -> None:
    registry = ContextRegistry()
    contexts = registry.all()
    assert {"default", "dataset", "pyonly"} <= set(contexts)
    # sorted by WEIGHT: the default context (10) first
    assert next(iter(contexts)) == "default"
    assert contexts["pyonly"].available_subkernels() == ["python3"]
    assert contexts["dataset"].available_subkernels() == ["python3", "julia", "rlang"]
    assert contexts["default"].available_subkernels() == ["python3", "julia", "rlang"]
    with pytest.raises(UnknownContextError, match=r"Available contexts: .*dataset"):
        registry.get("nope")
    assert BaseContext is BeakerContext


def test_broken_context_folder_is_reported_not_fatal(tmp_path: Path) -> None:
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "context.py").write_text("raise RuntimeError('bad import')\n")
    registry = ContextRegistry(context_path=[str(tmp_path)])
    assert "default" in registry.all()
    with pytest.raises(UnknownContextError, match="bad import"):
        registry.get("broken")


def test_a_context_folder_is_a_package(tmp_path: Path) -> None:
    # Written as upstream documents it: the agent in its own module, imported relatively.
    folder = tmp_path / "weather"
    (folder / "procedures" / "rlang").mkdir(parents=True)
    (folder / "procedures" / "rlang" / "setup.r").write_text("x <- 1\n")
    (folder / "agent.py").write_text(
        "from beaker_kernel.lib.agent import BeakerAgent\n"
        "class WeatherAgent(BeakerAgent):\n    '''Talks about the weather.'''\n"
    )
    (folder / "context.py").write_text(
        textwrap.dedent(
            """
            from beaker_kernel.lib.context import BeakerContext
            from .agent import WeatherAgent

            class WeatherContext(BeakerContext):
                WEIGHT = 5
                agent_cls = WeatherAgent

                def __init__(self, beaker_kernel, config):
                    super().__init__(beaker_kernel, self.agent_cls, config)
            """
        )
    )
    (folder / "default_payload.json").write_text('{"city": "Oslo"}\n')
    registry = ContextRegistry(context_path=[str(tmp_path)])
    cls = registry.get("weather")  # the folder's name: the class declares no SLUG
    assert next(iter(registry.all())) == "weather"  # WEIGHT 5 sorts before the default
    assert cls.available_subkernels() == ["rlang"]
    assert json.loads(cls.default_payload()) == {"city": "Oslo"}


class Toggled(BeakerContext):
    SLUG = "toggled"
    TOOL_ENABLED_RUN_CODE = "False"


class Plain(BeakerContext):
    SLUG = "plain"


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
    # upstream contexts catch ValueError for a procedure that is not there
    with pytest.raises(ValueError, match="available: greet"):
        procedures.render("missing")


def test_upstream_procedure_files_render_as_upstream_does(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    folder = tmp_path / "python3"
    (folder / "nested").mkdir(parents=True)
    (folder / "load_df.py").write_text(
        "df = load({{ var_map }})\n{% if debug %}print(1){% endif %}\n"
    )
    (folder / "metadata.json").write_text('{"name": "{{ name | default("notebook") }}"}')
    (folder / "nested" / "part.py").write_text("part = {{ n }}")
    (folder / "__init__.py").write_text("")
    (folder / ".keep").write_text("")
    procedures = ProcedureSet("python3", [tmp_path])
    assert procedures.names() == ["load_df", "metadata", "nested/part"]
    # an undefined variable renders empty (and is logged); the last newline is dropped
    with caplog.at_level(logging.WARNING):
        code = procedures.render("load_df", var_map={"a": 1})
    assert code == "df = load({'a': 1})\n"
    assert "debug" in caplog.text
    assert json.loads(procedures.render("metadata")) == {"name": "notebook"}
    assert procedures.render("nested/part", n=3) == "part = 3"


def test_literals_for_every_language(tmp_path: Path) -> None:
    folder = tmp_path / "julia"
    folder.mkdir()
    (folder / "show.jinja").write_text("println({{ text | julia_literal }})\n")
    procedures = ProcedureSet("julia", [tmp_path])
    # no interpolation, and characters outside the BMP stay whole (no surrogate pairs)
    assert procedures.render("show", text="cost $x 😀") == 'println("cost \\$x 😀")\n'
    with pytest.raises(ProcedureRenderError, match="finite number"):
        procedures.render("show", text=float("inf"))


def test_languages_by_slug_or_kernel_name() -> None:
    subkernels = discover_subkernels()
    assert set(subkernels) >= {"python3", "rlang", "julia"}
    for name, slug in (
        ("python3", "python3"),
        ("rlang", "rlang"),
        ("ir", "rlang"),
        ("ir-docker", "rlang"),
        ("julia", "julia"),
        ("julia-1.10", "julia"),
        ("python3-docker", "python3"),
    ):
        assert slug == get_subkernel(name, subkernels).SLUG, name
    rlang = subkernels["rlang"]
    assert (rlang.SLUG, rlang.KERNEL_NAME, rlang.DISPLAY_NAME) == ("rlang", "ir", "R")
    specs = {"ir": {"language": "R"}, "ir-docker": {"language": "R"}}
    assert rlang.choose_kernelspec(specs) == "ir"
    assert rlang.choose_kernelspec(specs, "ir-docker") == "ir-docker"


def test_results_are_decoded_as_upstream_did() -> None:
    subkernels = discover_subkernels()
    python, rlang, julia = (subkernels[s] for s in ("python3", "rlang", "julia"))
    # Python: the shown value as a literal; else the printed JSON
    assert python.parse_subkernel_return({"return": "{'a': [1, 2]}"}) == {"a": [1, 2]}
    assert python.parse_subkernel_return({"stdout_list": ['{"a": ', "true}\n"]}) == {"a": True}
    # R: a printed string holding JSON (upstream's form), or JSON printed with cat()
    assert rlang.parse_subkernel_return({"stdout_list": ['[1] "{\\"x\\": 1}"\n']}) == {"x": 1}
    assert rlang.parse_subkernel_return({"stdout_list": ['{"x": [1, 2]}']}) == {"x": [1, 2]}
    # Julia: the shown JSON string
    assert julia.parse_subkernel_return({"return": '"[1,2]"'}) == [1, 2]


def test_old_import_paths_still_work() -> None:
    from beaker_kernel.kernel import LLMKernel
    from beaker_kernel.lib import BeakerAgent, BeakerSubkernel
    from beaker_kernel.lib.subkernels.base import BaseSubkernel, CheckpointableBeakerSubkernel
    from beaker_kernel.lib.subkernels.julia import JuliaSubkernel
    from beaker_kernel.lib.subkernels.python import PythonSubkernel
    from beaker_kernel.lib.utils import ExecutionError, ExecutionTask, action, intercept

    assert issubclass(PythonSubkernel, CheckpointableBeakerSubkernel)
    assert issubclass(JuliaSubkernel, BaseSubkernel)
    assert BeakerSubkernel is BaseSubkernel
    assert BeakerAgent.__name__ == "BeakerAgent"
    assert LLMKernel.__name__ == "BeakerKernel"
    assert callable(action)
    assert callable(intercept)
    assert issubclass(ExecutionError, RuntimeError)
    assert ExecutionTask.__name__ == "ExecutionTask"
