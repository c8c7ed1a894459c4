"""``beaker context``: the contexts this installation offers, and a skeleton for a new one.

``beaker context list [--json]``
    Every context Beaker finds (entry points, ``share/beaker/contexts/*.json`` mappings,
    ``BEAKER_CONTEXT_PATH`` folders): its slug, class, where it came from, its agent and
    the languages it supports; then the contexts that could not be loaded, and why.
``beaker context new NAME [--class-name BASE] [--directory DIR]``
    Writes a context package into ``DIR`` (default ``./NAME``) that ``pip install`` makes
    discoverable: a hatchling ``pyproject.toml`` installing the mapping
    ``share/beaker/contexts/<slug>.json`` as wheel shared-data, the context and agent
    modules, a ``python3`` setup procedure and a default payload.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from string import Template
from typing import Any

NAME_PATTERN = re.compile(r"^[a-z][a-z0-9_-]*$")


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(
        prog="beaker context", description="List Beaker's contexts, or start a new one."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    listing = commands.add_parser("list", help="the contexts Beaker finds, and broken ones")
    listing.add_argument("--json", action="store_true", help="print one JSON document")
    new = commands.add_parser("new", help="write the skeleton of a context package")
    new.add_argument("name", help="the context's slug and package name, e.g. my_context")
    new.add_argument("-c", "--class-name", help="class names' stem (default: NAME in CamelCase)")
    new.add_argument("-d", "--directory", type=Path, help="where to write it (default: ./NAME)")
    args = parser.parse_args(argv)
    if args.command == "list":
        list_contexts(as_json=args.json)
    else:
        try:
            folder = new_context(args.name, args.class_name, args.directory)
        except ValueError as e:
            parser.exit(2, f"beaker context new: {e}\n")
        print(
            f"Wrote the context package {folder}. Install it with 'pip install {folder}'; "
            "'beaker context list' then shows it."
        )


# ---------------------------------------------------------------------------- list


def describe_contexts() -> dict[str, Any]:
    """``{"contexts": {slug: {...}}, "problems": {slug: why}}``: what ``list`` prints."""
    from .lib.registry import ContextRegistry

    registry = ContextRegistry()
    kernels = installed_kernels()
    classes = registry.all()
    problems = dict(registry.problems)
    contexts: dict[str, Any] = {}
    for slug, cls in classes.items():
        try:
            languages = cls.available_subkernels()
        except Exception as e:
            problems[slug] = f"Context {slug!r} cannot list its languages: {e}"
            continue
        contexts[slug] = {
            "class": f"{cls.__module__}.{cls.__qualname__}",
            "source": _source(registry.origin(slug)),
            "agent": _agent_name(cls),
            "languages": [{"slug": lang, "kernel": kernels.get(lang)} for lang in languages],
            "description": _first_line(cls.__doc__),
        }
    return {"contexts": contexts, "problems": problems}


def installed_kernels() -> dict[str, str]:
    """Subkernel slug → the installed kernelspec that runs it (languages without one left out)."""
    from jupyter_client.kernelspec import KernelSpecManager

    from .errors import BeakerError
    from .lib.subkernel import discover_subkernels

    specs = {
        name: model["spec"]
        for name, model in KernelSpecManager().get_all_specs().items()
        if not model["spec"].get("metadata", {}).get("beaker_kernel")
    }
    found: dict[str, str] = {}
    for slug, subkernel in discover_subkernels().items():
        try:
            found[slug] = subkernel.choose_kernelspec(specs)
        except BeakerError:
            continue
    return found


def _source(origin: str) -> str:
    if origin.startswith(("entry point ", "mapping file ")):
        return origin
    return f"folder {origin}" if origin else "unknown"


def _agent_name(cls: type[Any]) -> str | None:
    agent = getattr(cls, "agent_cls", None)
    if agent is None:
        return None
    if isinstance(agent, str):
        return agent
    return f"{agent.__module__}.{agent.__qualname__}"


def _first_line(text: str | None) -> str:
    lines = [line.strip() for line in (text or "").strip().splitlines()]
    return lines[0] if lines else ""


def list_contexts(*, as_json: bool = False) -> None:
    found = describe_contexts()
    if as_json:
        print(json.dumps(found, indent=2))
        return
    contexts, problems = found["contexts"], found["problems"]
    if not contexts:
        print("No contexts found.")
    for slug, info in contexts.items():
        print(slug)
        if info["description"]:
            print(f"    {info['description']}")
        print(f"    class:     {info['class']}")
        print(f"    from:      {info['source']}")
        if info["agent"]:
            print(f"    agent:     {info['agent']}")
        languages = [
            f"{lang['slug']} ({lang['kernel'] or 'no kernel installed'})"
            for lang in info["languages"]
        ]
        print(f"    languages: {', '.join(languages) or 'none'}")
    if problems:
        print("\nNot loaded:")
        for slug, why in problems.items():
            print(f"{slug}\n    {why}")


# ---------------------------------------------------------------------------- new


def new_context(name: str, class_name: str | None = None, directory: Path | None = None) -> Path:
    """Write the skeleton of the context package ``name``; returns its folder."""
    if not NAME_PATTERN.match(name):
        raise ValueError(
            f"{name!r} is not a usable name: use lower-case letters, digits, '_' and '-', "
            "starting with a letter (e.g. my_context)"
        )
    package = name.replace("-", "_")
    stem = class_name or "".join(part.capitalize() for part in package.split("_"))
    if not stem.isidentifier() or not stem[0].isupper():
        raise ValueError(f"{stem!r} is not a class name stem (e.g. MyContext → 'My')")
    folder = directory if directory is not None else Path(name)
    if folder.exists() and any(folder.iterdir()):
        raise ValueError(f"{folder} exists and is not empty; choose another --directory")
    values = {
        "package": package,
        "distribution": package.replace("_", "-"),
        "context": f"{stem}Context",
        "agent": f"{stem}Agent",
    }
    for path, template in _SKELETON.items():
        target = folder / Template(path).substitute(values)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(Template(template).substitute(values))
    return folder


_SKELETON: dict[str, str] = {
    "pyproject.toml": """\
[build-system]
requires = ["hatchling"]
build-backend = "hatchling.build"

[project]
name = "$distribution"
version = "0.1.0"
description = "A Beaker context"
readme = "README.md"
requires-python = ">=3.10"
dependencies = ["beaker-kernel"]

[tool.hatch.build.targets.wheel]
packages = ["src/$package"]

# Beaker finds the context through this file, installed as <prefix>/share/beaker/contexts/
[tool.hatch.build.targets.wheel.shared-data]
"share/beaker/contexts/$package.json" = "share/beaker/contexts/$package.json"
""",
    "README.md": """\
# $distribution

A Beaker context (slug `$package`).

    pip install .
    beaker context list

Then set it up from a front end with
`{"context": "$package", "language": "python3", "context_info": null}` (null: the
default payload in `src/$package/default_payload.json`).

- `src/$package/context.py`: the context (`$context`): setup, actions, preview.
- `src/$package/agent.py`: its agent (`$agent`): the class docstring is its prompt,
  `@tool()` methods are its tools.
- `src/$package/procedures/<language>/`: code templates (Jinja) per language; a
  language is supported when it has a folder here (`python3`, `rlang`, `julia`).
""",
    "share/beaker/contexts/$package.json": """\
{"slug": "$package", "package": "$package.context", "class_name": "$context"}
""",
    "src/$package/__init__.py": "",
    "src/$package/default_payload.json": """\
{"greeting": "Hello"}
""",
    "src/$package/procedures/python3/setup.py": """\
greeting = "{{ greeting }}"
""",
    "src/$package/context.py": '''\
"""The $package context."""

from typing import Any

from beaker_kernel.lib.context import BaseContext
from beaker_kernel.lib.utils import action

from .agent import $agent


class $context(BaseContext):
    """What this context is for (front ends and `beaker context list` show this line)."""

    SLUG = "$package"
    agent_cls = $agent

    def __init__(self, beaker_kernel: Any, config: dict[str, Any]) -> None:
        super().__init__(beaker_kernel, $agent, config)

    async def setup(self, context_info: dict[str, Any], parent_header: dict[str, Any]) -> None:
        """Runs once the subkernel is ready: prepare the notebook with the setup procedure."""
        self.config["context_info"] = context_info
        await self.execute(self.get_code("setup", {"greeting": context_info["greeting"]}))

    @action(default_payload='{"name": "world"}')
    async def greet(self, message: Any) -> Any:
        """Greet someone with the notebook's greeting."""
        name = message.content.get("name", "world")
        result = await self.evaluate("greeting")
        return f"{result['return']}, {name}!"
''',
    "src/$package/agent.py": '''\
"""The agent of the $package context."""

from archytas.tool_utils import AgentRef, LoopControllerRef, tool

from beaker_kernel.lib.agent import BaseAgent


class $agent(BaseAgent):
    """
    You are an assistant working in a Jupyter notebook with the user. Describe here what
    the agent is for: this docstring is its prompt.
    """

    @tool()
    async def notebook_greeting(self, agent: AgentRef, loop: LoopControllerRef) -> str:
        """
        The greeting the notebook was set up with.

        Returns:
            str: The greeting.
        """
        return str(agent.context.config["context_info"]["greeting"])
''',
}


if __name__ == "__main__":
    main(sys.argv[1:])
