"""structlog, configured once at the entry point.

JSON lines when stdout is not a terminal (cron, systemd, containers), readable
console output when it is.  The API token is masked in every event, whichever
field it hides in, before any renderer sees it.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import MutableMapping
from typing import Any

import structlog

from sync.redaction import spellings

MASK = "***"


class SecretMasker:
    """A processor that replaces each known secret, in each of its spellings, wherever it appears."""

    def __init__(self) -> None:
        self.secrets: set[str] = set()
        self._forms_of: frozenset[str] = frozenset()
        self._forms: list[str] = []

    def __call__(self, _logger: Any, _name: str, event: MutableMapping[str, Any]) -> Any:
        if not self.secrets:
            return event
        if self._forms_of != self.secrets:  # secrets are added at start-up; spell them out once
            self._forms_of = frozenset(self.secrets)
            forms = {form for secret in self._forms_of for form in spellings(secret)}
            self._forms = sorted(forms, key=len, reverse=True)
        return {key: self._mask(value) for key, value in event.items()}

    def _mask(self, value: Any) -> Any:
        if isinstance(value, str):
            for form in self._forms:
                value = value.replace(form, MASK)
            return value
        if isinstance(value, dict):
            return {k: self._mask(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self._mask(v) for v in value]
        if isinstance(value, BaseException):
            return self._mask(repr(value))
        return value


masker = SecretMasker()


class _CurrentStdoutHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever sys.stdout is at the time, like the structlog loggers."""

    @property
    def stream(self) -> Any:
        return sys.stdout

    @stream.setter
    def stream(self, _value: Any) -> None:
        pass


def configure_logging(*, level: str = "INFO", json: bool | None = None) -> None:
    as_json = not sys.stdout.isatty() if json is None else json
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        # Tracebacks become text before masking, so a token in an exception is masked too.
        structlog.processors.format_exc_info,
        masker,
    ]
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if as_json
        else structlog.dev.ConsoleRenderer(colors=sys.stdout.isatty())
    )
    structlog.configure(
        processors=[*shared, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level)),
        # No file given: each logger looks sys.stdout up when it is made, so a progress
        # display that redirects stdout gets the log lines and prints them above itself.
        logger_factory=structlog.PrintLoggerFactory(),
        cache_logger_on_first_use=False,
    )
    # Libraries log through the standard library: same format, same masking.
    handler = _CurrentStdoutHandler()
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            processor=renderer,
            foreign_pre_chain=shared,
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # httpx logs whole URLs at INFO; apscheduler is chatty. Our own events say enough.
    for name in ("httpx", "httpcore", "apscheduler"):
        logging.getLogger(name).setLevel(logging.WARNING)
