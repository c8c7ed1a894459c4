"""Secrets out of the service's log.

The token reaches log records in many ways: websocket URLs carry it as ``?token=``, and
tornado names the URL in its warnings about 4xx/5xx answers and prints the request (URL
included) with every uncaught exception; Jupyter Server prints it with a generated token;
a traceback may quote a URL or a header. Instead of chasing each of these, the service
redacts every log record made in its process, at the moment it is made
(:func:`install` wraps the log record factory, so records of every logger are covered,
whichever handler later prints them):

* the token and other secret values the service holds are replaced by ``[secret]``;
* so is the value of any ``token=`` query parameter (also URL-encoded, as in a redirect's
  ``next=``), and of an ``Authorization: token …`` header, whatever the token.

Warnings are routed through logging (``logging.captureWarnings``) so they are redacted too.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import quote

REDACTED = "[secret]"

#: ``token=<value>`` in a URL or query string, plain or URL-encoded (``token%3D<value>``).
_QUERY_TOKEN = re.compile(r"(?i)(token(?:=|%3D))(?![<\[])[^&\s'\"#<>\\),;]+")
#: ``Authorization: token <value>`` (or ``Bearer``), as in a header dump or a dict's repr.
_AUTH_HEADER = re.compile(
    r"(?i)(authorization['\"]?\s*[:=]\s*['\"]?(?:token|bearer)\s+)(?![<\[])[^\s'\",}]+"
)

#: Shortest value redacted literally: shorter values ("true", "1") are too common to hide.
MIN_SECRET_LENGTH = 8


class SecretRedactor(logging.Filter):
    """A logging filter that rewrites a record's message and traceback without secrets.

    As a filter it can be attached to loggers or handlers; :func:`install` applies it to
    every record of the process instead.
    """

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self._lock = threading.Lock()
        self._secrets: set[str] = set()
        self._literal: re.Pattern[str] | None = None
        self._formatter = logging.Formatter()
        for secret in secrets:
            self.add(secret)

    def add(self, secret: str) -> None:
        """Redact ``secret`` (and its URL-encoded form) from now on."""
        if len(secret) < MIN_SECRET_LENGTH:
            return
        with self._lock:
            self._secrets.update({secret, quote(secret, safe="")})
            alternatives = sorted(self._secrets, key=len, reverse=True)
            self._literal = re.compile("|".join(re.escape(s) for s in alternatives))

    def redact(self, text: str) -> str:
        """``text`` with every secret replaced by ``[secret]``."""
        literal = self._literal
        if literal is not None:
            text = literal.sub(REDACTED, text)
        text = _QUERY_TOKEN.sub(rf"\g<1>{REDACTED}", text)
        return _AUTH_HEADER.sub(rf"\g<1>{REDACTED}", text)

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:
            # Formatting would fail later too, and logging would then print the raw
            # arguments; keep them, redacted, in the message instead.
            message = f"{record.msg!r} (cannot be formatted with {record.args!r})"
        record.msg = self.redact(message)
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = self._formatter.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        if record.stack_info:
            record.stack_info = self.redact(record.stack_info)
        return True


_redactor: SecretRedactor | None = None
_QUERY_ONLY = SecretRedactor()


def install(secrets: Iterable[str] = ()) -> SecretRedactor:
    """Redact every log record made in this process from now on; returns the redactor.

    Calling it again adds ``secrets`` to the redactor already installed.
    """
    global _redactor
    if _redactor is None:
        redactor = SecretRedactor()
        make_record: Callable[..., logging.LogRecord] = logging.getLogRecordFactory()

        def redacted_record(*args: Any, **kwargs: Any) -> logging.LogRecord:
            record = make_record(*args, **kwargs)
            redactor.filter(record)
            return record

        logging.setLogRecordFactory(redacted_record)
        logging.captureWarnings(True)
        _redactor = redactor
    for secret in secrets:
        _redactor.add(secret)
    return _redactor


def redact(text: str) -> str:
    """``text`` redacted by the installed redactor (or of ``token=`` values only)."""
    return (_redactor or _QUERY_ONLY).redact(text)


def add_secret(secret: str) -> None:
    """Redact ``secret`` too, if redaction is installed in this process."""
    if _redactor is not None:
        _redactor.add(secret)


__all__ = ["REDACTED", "SecretRedactor", "add_secret", "install", "redact"]
