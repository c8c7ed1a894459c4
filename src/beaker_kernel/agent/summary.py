"""Notebook summaries: what the service's ``POST /summary`` answers (upstream Beaker 1.14).

A request is ``{"notebook": <nbformat notebook>, "summary_prompts": {name: description}}``
(``summary_prompts`` optional, :data:`DEFAULT_PROMPTS` when missing or empty). The answer
is ``{"history": ..., <name>: ...}``: the model first lists the notebook's events, then
writes one text per prompt (by default a ``title`` and a ``summary``).

The model sees the notebook with every output cut to :data:`OUTPUT_LIMIT` characters,
binary outputs (images) and attachments left out and tracebacks dropped; the agent has no
tools (:mod:`.summarizer`).

The service runs this module as a child process, ``python -P -m
beaker_kernel.agent.summary``, because only Beaker kernels and this process see the LLM
keys (the service removes them from its own environment): the request is read as JSON on
stdin, one JSON object is written on stdout, ``{"result": {name: text}}`` or ``{"error":
{"type": <error class name>, "message": ...}}``.

Importing this module imports nothing of the LLM stack; :func:`summarize` does.
"""

from __future__ import annotations

import asyncio
import copy
import json
import os
import sys
import traceback
from typing import Any

from ..errors import BeakerError, MessageError

#: Characters of each output the model sees.
OUTPUT_LIMIT = 1000

#: Texts written when a request names none: name → what to write.
DEFAULT_PROMPTS = {
    "title": "a title of at most 10 words that names the notebook's central theme",
    "summary": "a summary of about 400 characters, in the passive voice",
}

#: The key of the answer that lists the notebook's events.
HISTORY = "history"

#: Fields of a request.
REQUEST_FIELDS = ("notebook", "summary_prompts")

HISTORY_QUESTION = """\
List the events of this notebook. An event is the execution of one or more code cells,
or an exchange between the user and the agent in a query cell.

- For code cells, say what the code does and what it produced.
- For query cells, say what the user asked and what the agent answered, and name the code
  cells the agent generated for it (the cells whose metadata has that query cell as parent).

Put the events in the order in which they ran (execution counts tell it), and leave out
cells that never ran. Your final answer is a JSON array of strings, one per event, and
nothing else: no backticks, no text around it.
"""

PROMPT_QUESTION = """\
Write {description}.

Draft it from the list of events you made, then check the details against the notebook.
Write about the content only: the reader knows that the work was done in a notebook and
that a user talked with an agent, so do not mention the notebook, the process, the user,
the agent or an author, and do not refer to your text itself ("this summary"). Cut what
says nothing, then make sure the text is the kind of text asked for, in the form asked
for. Your final answer is the text alone.
"""


def check_request(request: Any) -> tuple[dict[str, Any], dict[str, str]]:
    """The notebook and the summary prompts of a request, or :class:`MessageError`.

    Checks what the summary needs (the notebook's ``cells`` list, prompts as strings);
    anything else in the notebook is passed on as it is.
    """
    if not isinstance(request, dict):
        raise MessageError(
            'The request must be a JSON object: {"notebook": {...}, '
            '"summary_prompts": {name: description} (optional)}'
        )
    unknown = sorted(set(request) - set(REQUEST_FIELDS))
    if unknown:
        raise MessageError(
            f"Unknown field(s) {', '.join(map(repr, unknown))}: a summary request has "
            "'notebook' and, optionally, 'summary_prompts'"
        )
    notebook = request.get("notebook")
    if not isinstance(notebook, dict):
        raise MessageError(
            "'notebook' must be the notebook as a JSON object (nbformat), with a 'cells' list"
        )
    cells = notebook.get("cells")
    if not isinstance(cells, list):
        raise MessageError("'notebook.cells' must be the list of the notebook's cells")
    for index, cell in enumerate(cells):
        if not isinstance(cell, dict):
            raise MessageError(f"'notebook.cells[{index}]' must be a cell (a JSON object)")
    prompts = request.get("summary_prompts")
    if prompts is None or prompts == {}:
        return notebook, dict(DEFAULT_PROMPTS)
    if not isinstance(prompts, dict):
        raise MessageError(
            "'summary_prompts' must be a JSON object: {name: description of the text to write}"
        )
    for name, description in prompts.items():
        if not name or not isinstance(description, str) or not description.strip():
            raise MessageError(
                f"'summary_prompts' entry {name!r} must have a name and describe the text to "
                "write (a non-empty string)"
            )
    if HISTORY in prompts:
        raise MessageError(
            f"'summary_prompts' cannot have an entry named {HISTORY!r}: the answer's "
            f"{HISTORY!r} lists the notebook's events"
        )
    return notebook, dict(prompts)


def prepare_notebook(notebook: dict[str, Any], limit: int = OUTPUT_LIMIT) -> dict[str, Any]:
    """A copy of ``notebook`` as the model sees it.

    Outputs are cut to ``limit`` characters, tracebacks dropped (the error's name and
    value stay), binary outputs and cell attachments replaced by a note. Anything not
    shaped as nbformat says is passed on unchanged.
    """
    prepared = copy.deepcopy(notebook)
    for cell in prepared.get("cells", []):
        if not isinstance(cell, dict):
            continue
        attachments = cell.get("attachments")
        if isinstance(attachments, dict) and attachments:
            cell["attachments"] = f"[attachments left out: {', '.join(map(str, attachments))}]"
        outputs = cell.get("outputs")
        if not isinstance(outputs, list):
            continue
        for output in outputs:
            if isinstance(output, dict):
                _prepare_output(output, limit)
    return prepared


def _prepare_output(output: dict[str, Any], limit: int) -> None:
    output.pop("traceback", None)
    if "text" in output:
        output["text"] = _trim(_text(output["text"]), limit)
    data = output.get("data")
    if isinstance(data, dict):
        for mimetype, value in data.items():
            text = _text(value)
            if _is_binary(str(mimetype)):
                data[mimetype] = f"[{mimetype}, {len(text)} characters, left out]"
            else:
                data[mimetype] = _trim(text, limit)


def _text(value: Any) -> str:
    # nbformat keeps multi-line strings as lists of lines; JSON outputs are objects.
    if isinstance(value, str):
        return value
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return "".join(value)
    return json.dumps(value, ensure_ascii=False)


def _trim(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    return f"{text[:limit]}… [{len(text) - limit} more characters left out]"


def _is_binary(mimetype: str) -> bool:
    # nbformat stores these as base64, which tells a model nothing.
    if mimetype == "image/svg+xml":
        return False
    return mimetype.startswith(("image/", "audio/", "video/")) or mimetype in (
        "application/pdf",
        "application/octet-stream",
    )


async def summarize(
    notebook: dict[str, Any],
    summary_prompts: dict[str, str] | None = None,
    model: Any = None,
) -> dict[str, str]:
    """``{"history": ..., <prompt name>: ...}`` for ``notebook``.

    ``model`` is an archytas model; by default the one the agent settings describe
    (``LLM_PROVIDER_IMPORT_PATH`` …). Raises :class:`MessageError` for a request that
    :func:`check_request` refuses, :class:`~beaker_kernel.errors.ModelNotConfiguredError`
    without a model, and an :class:`~beaker_kernel.errors.AgentError` explaining what
    went wrong with the model (:func:`.errors.explain`).
    """
    request: dict[str, Any] = {"notebook": notebook}
    if summary_prompts is not None:
        request["summary_prompts"] = summary_prompts
    notebook, prompts = check_request(request)
    from .errors import explain
    from .settings import AgentSettings
    from .summarizer import NotebookSummarizer

    settings = AgentSettings()
    try:
        if model is None:
            model = settings.create_model()
        agent = NotebookSummarizer(
            prepare_notebook(notebook), model=model, max_react_steps=settings.max_react_steps
        )
        result = {HISTORY: _answer_text(await agent.react_async(HISTORY_QUESTION))}
        for name, description in prompts.items():
            answer = await agent.react_async(PROMPT_QUESTION.format(description=description))
            result[name] = _answer_text(answer)
    except Exception as e:
        raise explain(e) from e
    return result


def _answer_text(answer: Any) -> str:
    return answer if isinstance(answer, str) else json.dumps(answer, ensure_ascii=False)


def run(raw: bytes) -> dict[str, Any]:
    """The answer to one request (JSON bytes): ``{"result": ...}`` or ``{"error": ...}``."""
    try:
        try:
            request = json.loads(raw)
        except ValueError as e:
            raise MessageError(f"The request is not JSON: {e}") from e
        notebook, prompts = check_request(request)
        return {"result": asyncio.run(summarize(notebook, prompts))}
    except BeakerError as e:
        return {"error": {"type": e.ename, "message": e.message}}
    except Exception as e:
        # The service answers 500 and logs this process's stderr.
        traceback.print_exc()
        return {"error": {"type": type(e).__name__, "message": f"{type(e).__name__}: {e}"}}


def main() -> None:
    """``python -m beaker_kernel.agent.summary``: a request on stdin, the answer on stdout."""
    # archytas and provider SDKs print progress to stdout, which belongs to the answer:
    # everything else goes to stderr.
    answer_fd = os.dup(sys.stdout.fileno())
    sys.stdout.flush()
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    answer = run(sys.stdin.buffer.read())
    sys.stdout.flush()
    with os.fdopen(answer_fd, "w", encoding="utf-8") as out:
        json.dump(answer, out, ensure_ascii=False)


if __name__ == "__main__":
    main()
