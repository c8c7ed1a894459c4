"""``POST /summary``: the notebook summarizer, run in a child process of the service.

The service removes the LLM keys from its own environment at start (app.py) and only
Beaker kernels get them back (provisioner.py). A summary needs them too, so it runs in
a child process, ``python -P -m beaker_kernel.agent.summary``, with the environment a
Beaker kernel gets (the service's, plus :attr:`ServiceState.beaker_only_env`) but none
of the service's tokens. ``-P`` (as in the Beaker kernelspec) keeps the working
directory off ``sys.path``; ``PYTHONPATH`` still counts, so a provider's module installed
there is found. The process works in a fresh private temporary directory.

How the child's answer becomes an HTTP answer:

=============================================  ======================================
the child answers                              HTTP
=============================================  ======================================
a result                                       200 ``{"history", <prompt name>...}``
``ModelNotConfiguredError``, ``AgentError``    503: no model, or settings that cannot
(the model's settings cannot be used)          be used; the message says what to set
another ``AgentError`` (refused key,           502 with the explained message
unreachable provider, the agent gave up…)
``MessageError``                               400
nothing in time (``summary_timeout``)          504; the process is killed
anything else                                  500; the child's stderr is logged
=============================================  ======================================
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
import tempfile
from collections.abc import Mapping
from typing import Any

from tornado import web

from ..agent.errors import (
    AgentBusyError,
    AgentFailedError,
    AgentInterruptedError,
    ContextWindowError,
    ModelUnreachableError,
)
from ..environment import SECRET_NAMES
from ..errors import AgentError, MessageError, ModelAuthError, ModelNotConfiguredError
from .state import SERVICE_TOKEN_NAMES

log = logging.getLogger("beaker_kernel.service")

#: The child process, after the interpreter.
COMMAND = ("-P", "-m", "beaker_kernel.agent.summary")

#: Errors of the model or the agent run, which the service answers with 502.
_MODEL_ERRORS = frozenset(
    cls.__name__
    for cls in (
        ModelAuthError,
        ModelUnreachableError,
        ContextWindowError,
        AgentBusyError,
        AgentInterruptedError,
        AgentFailedError,
    )
)

#: Characters of the child's stderr written to the service's log when it fails.
_STDERR_TAIL = 4000


def summarizer_environment(
    beaker_only_env: Mapping[str, str], base: Mapping[str, str] | None = None
) -> dict[str, str]:
    """The environment of the summarizer: ``base`` (the service's environment) and the
    secrets kept for Beaker kernels, without the service's tokens."""
    env = dict(os.environ if base is None else base)
    env.update(beaker_only_env)
    for name in list(env):
        if name in SERVICE_TOKEN_NAMES or (name in SECRET_NAMES and not name.startswith("LLM_")):
            del env[name]
    return env


def status_for(error_type: str) -> int:
    """The HTTP status of the summarizer's error ``error_type`` (a class name)."""
    if error_type in (ModelNotConfiguredError.__name__, AgentError.__name__):
        return 503
    if error_type in _MODEL_ERRORS:
        return 502
    if error_type == MessageError.__name__:
        return 400
    return 500


class SummarySlots:
    """How many summarizers may run at once; :meth:`take` refuses one more with 429."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.running = 0

    def take(self) -> None:
        if self.running >= self.size:
            raise web.HTTPError(
                429,
                f"{self.running} summaries are being made, the most at once (setting: "
                "BEAKER_SUMMARY_CONCURRENCY or --BeakerServiceApp.summary_concurrency); "
                "try again when one is done",
            )
        self.running += 1

    def give_back(self) -> None:
        self.running -= 1


class SummaryProcess:
    """One run of the summarizer; :meth:`kill` stops it (the client went away)."""

    def __init__(self, env: Mapping[str, str], timeout: float) -> None:
        self.env = dict(env)
        self.timeout = timeout
        self._process: asyncio.subprocess.Process | None = None
        self._killed = False

    async def run(self, request: bytes) -> dict[str, str]:
        """The summarizer's answer to ``request`` (the JSON body of ``POST /summary``).

        Raises :class:`tornado.web.HTTPError` with the status of the table above.
        """
        with tempfile.TemporaryDirectory(prefix="beaker-summary-") as workdir:
            process = await asyncio.create_subprocess_exec(
                sys.executable,
                *COMMAND,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                env=self.env,
                cwd=workdir,
            )
            self._process = process
            try:
                stdout, stderr = await asyncio.wait_for(process.communicate(request), self.timeout)
            except TimeoutError:
                raise web.HTTPError(
                    504,
                    f"The summary took longer than {self.timeout:g} s and was stopped "
                    "(setting: BEAKER_SUMMARY_TIMEOUT or --BeakerServiceApp.summary_timeout)",
                ) from None
            finally:
                if process.returncode is None:
                    process.kill()
                    await process.wait()
                self._process = None
        if self._killed:
            raise web.HTTPError(
                499, "The client went away; the summary was stopped", reason="Client Closed Request"
            )
        return self._answer(process.returncode, stdout, stderr)

    def kill(self) -> None:
        """Stop the summarizer now; :meth:`run` then ends."""
        self._killed = True
        if self._process is not None and self._process.returncode is None:
            self._process.kill()

    def _answer(self, returncode: int | None, stdout: bytes, stderr: bytes) -> dict[str, str]:
        errors = stderr.decode(errors="replace")[-_STDERR_TAIL:]
        try:
            answer: Any = json.loads(stdout)
        except ValueError:
            answer = None
        if not isinstance(answer, dict):
            log.error(
                "The summarizer stopped without an answer (exit status %s). Its stderr "
                "ends with:\n%s",
                returncode,
                errors,
            )
            raise web.HTTPError(
                500, "The summarizer stopped without an answer; the service's log has the details"
            )
        log.debug("The summarizer's stderr ends with:\n%s", errors)
        result = answer.get("result")
        if isinstance(result, dict):
            return {str(name): str(text) for name, text in result.items()}
        error = answer.get("error")
        error = error if isinstance(error, dict) else {}
        error_type = str(error.get("type", ""))
        message = str(error.get("message", "")) or "The summarizer failed"
        status = status_for(error_type)
        if status == 500:
            log.error("The summarizer failed: %s. Its stderr ends with:\n%s", message, errors)
            raise web.HTTPError(500, "The summarizer failed; the service's log has the details")
        # Tornado logs the message with the status. As an argument: it may hold a '%'.
        raise web.HTTPError(status, "%s", message)
