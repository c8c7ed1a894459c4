"""What a context's agent offers, told without importing the LLM stack.

Front ends read ``get_info()["agent"]`` (name, tools and prompt) for every context they
set up. Importing an agent class imports archytas and LangChain, which a kernel whose
agent is never used should not pay for. So while the agent's module is not imported yet,
its source is read instead: the class, its bases defined in Python files, their methods
decorated with ``@tool`` and the docstrings. Once the module is imported (or the agent
exists), the classes themselves are asked, with the same result.
"""

from __future__ import annotations

import ast
import importlib.util
import inspect
import sys
from pathlib import Path
from typing import Any

#: Tools every agent has from its subkernel, as (module, function).
SUBKERNEL_TOOLS = (("beaker_kernel.agent.tools", "run_code"),)

#: Tools of archytas itself that manage the conversation; not the context's to offer.
FRAMEWORK_TOOLS = frozenset({"retrieve_summarized_messages_of_summary"})

#: Packages whose classes are not followed (archytas's own tools are framework tools).
_NOT_FOLLOWED = ("archytas", "langchain", "langchain_core")


def split_class_path(path: str) -> tuple[str, str]:
    module, sep, name = path.partition(":")
    if not sep:
        module, _, name = path.rpartition(".")
    return module, name


def _module_source(module: str) -> tuple[ast.Module, str] | None:
    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.origin or not spec.origin.endswith(".py"):
        return None
    try:
        return ast.parse(Path(spec.origin).read_text()), module
    except (OSError, SyntaxError):
        return None


def _imported_names(tree: ast.Module, module: str) -> dict[str, tuple[str, str]]:
    """name → (module, attribute) of ``from X import Y`` statements of ``tree``."""
    names: dict[str, tuple[str, str]] = {}
    package = module.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            source = node.module or ""
            if node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                source = ".".join([*base, source] if source else base)
            for alias in node.names:
                names[alias.asname or alias.name] = (source, alias.name)
    return names


def _is_tool(decorator: ast.expr) -> bool:
    target = decorator.func if isinstance(decorator, ast.Call) else decorator
    name = target.attr if isinstance(target, ast.Attribute) else getattr(target, "id", "")
    return name == "tool"


def _class_tools(module: str, name: str, depth: int = 0) -> tuple[dict[str, str], str] | None:
    """``(tools, docstring)`` of class ``name`` in ``module``, bases included (by source)."""
    if depth > 8 or module.split(".")[0] in _NOT_FOLLOWED:
        return {}, ""
    parsed = _module_source(module)
    if parsed is None:
        return None
    tree, _ = parsed
    node = next((n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == name), None)
    if node is None:
        return None
    imported = _imported_names(tree, module)
    tools: dict[str, str] = {}
    for base in node.bases:
        base_name = base.id if isinstance(base, ast.Name) else None
        if base_name is None:
            continue
        where = imported.get(base_name) or (module, base_name)
        found = _class_tools(where[0], where[1], depth + 1)
        if found is None:
            return None
        tools.update(found[0])
    for item in node.body:
        if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)) and any(
            _is_tool(d) for d in item.decorator_list
        ):
            tools[item.name] = ast.get_docstring(item, clean=True) or ""
    return tools, ast.get_docstring(node, clean=True) or ""


def _function_doc(module: str, name: str) -> str | None:
    parsed = _module_source(module)
    if parsed is None:
        return None
    for node in parsed[0].body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name == name:
            return ast.get_docstring(node, clean=True) or ""
    return None


def describe_without_import(agent_cls: Any, tool_enabled: Any) -> dict[str, Any] | None:
    """``{name, tools, agent_prompt}`` from the source of ``agent_cls`` (a ``module:Class``
    path whose module is not imported); ``None`` when the source cannot tell."""
    if not isinstance(agent_cls, str):
        return None
    module, name = split_class_path(agent_cls)
    if module in sys.modules:
        return None
    found = _class_tools(module, name)
    if found is None:
        return None
    tools, prompt = found
    for tool_module, tool_name in SUBKERNEL_TOOLS:
        doc = _function_doc(tool_module, tool_name)
        if doc is None:
            return None
        tools[tool_name] = doc
    enabled = {key: doc for key, doc in tools.items() if tool_enabled(key)}
    return {"name": name, "tools": dict(sorted(enabled.items())), "agent_prompt": prompt}


def describe_imported(
    cls: type[Any], subkernel_tools: list[Any], tool_enabled: Any
) -> dict[str, Any]:
    """The same description, asked of the imported class."""
    tools: dict[str, str] = {}
    for name in dir(cls):
        member = inspect.getattr_static(cls, name, None)
        if getattr(member, "_is_tool", False) and name not in FRAMEWORK_TOOLS:
            tools[name] = inspect.cleandoc(getattr(member, "__doc__", None) or "")
    for fn in subkernel_tools:
        tool_name = str(getattr(fn, "_name", None) or getattr(fn, "__name__", ""))
        if tool_name:
            tools[tool_name] = inspect.cleandoc(getattr(fn, "__doc__", None) or "")
    enabled = {key: doc for key, doc in tools.items() if tool_enabled(key)}
    doc = cls.__dict__.get("__doc__") or inspect.getdoc(cls) or ""
    return {
        "name": cls.__name__,
        "tools": dict(sorted(enabled.items())),
        "agent_prompt": inspect.cleandoc(doc),
    }
