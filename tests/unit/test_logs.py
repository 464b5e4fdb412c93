"""The secret masker: the API token never reaches a log line."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import pytest
import structlog

from sync import logs
from sync.logs import MASK, SecretMasker, configure_logging

TOKEN = "lev_sk_LOGS_secret_55555"


def masked(event: dict[str, Any], *secrets: str) -> Any:
    masker = SecretMasker()
    masker.secrets.update(secrets or {TOKEN})
    return masker(None, "info", event)


def test_secret_is_masked_in_plain_strings() -> None:
    """A secret inside a string field is replaced by the mask, the rest of the text kept."""
    result = masked({"event": f"calling with Bearer {TOKEN} now", "header": TOKEN})
    assert result == {"event": f"calling with Bearer {MASK} now", "header": MASK}


def test_secret_is_masked_in_nested_values() -> None:
    """Secrets inside dicts, lists and tuples, however deep, are masked."""
    event = {
        "event": "http.request",
        "request": {"headers": {"Authorization": f"Bearer {TOKEN}"}, "attempts": [1, (f"x{TOKEN}y", 2.5)]},
        "status": 401,
        "ok": False,
        "nothing": None,
    }
    result = masked(event)
    assert TOKEN not in repr(result)
    assert result["request"]["headers"]["Authorization"] == f"Bearer {MASK}"
    assert result["request"]["attempts"] == [1, [f"x{MASK}y", 2.5]]
    assert (result["status"], result["ok"], result["nothing"]) == (401, False, None)


def test_secret_is_masked_in_exception_reprs() -> None:
    """An exception value is logged as its repr with the secret masked."""
    error = RuntimeError(f"Authorization: Bearer {TOKEN} was refused")
    result = masked({"event": "boom", "error": error, "errors": [ValueError(TOKEN)]})
    assert result["error"] == f"RuntimeError('Authorization: Bearer {MASK} was refused')"
    assert result["errors"] == [f"ValueError('{MASK}')"]


def test_every_known_secret_is_masked() -> None:
    """With several secrets known, each is masked."""
    result = masked({"event": "a=s3cret-one b=s3cret-two"}, "s3cret-one", "s3cret-two")
    assert result["event"] == f"a={MASK} b={MASK}"


def test_a_secret_is_masked_in_its_escaped_spellings_too() -> None:
    """A session cookie quoted JSON-escaped (`\\/`) or URL-encoded in a message is masked as well."""
    cookie = "s%3Aabc/def+ghi.sig=="
    json_escaped = cookie.replace("/", "\\/")
    result = masked({"event": f"echo {json_escaped} and {quote(cookie, safe='')}"}, cookie)
    assert result["event"] == f"echo {MASK} and {MASK}"


def test_without_secrets_the_event_is_untouched() -> None:
    """A masker that knows no secret passes the event through as it is."""
    event = {"event": f"contains {TOKEN}"}
    assert SecretMasker()(None, "info", event) is event


@pytest.fixture
def configured(capsys: pytest.CaptureFixture[str]) -> Iterator[pytest.CaptureFixture[str]]:
    """The token known to the global masker; logging configuration restored afterwards.

    Each test calls configure_logging itself, so the logger prints to the stdout captured
    while the test runs.
    """
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    previous = structlog.get_config()
    logs.masker.secrets.add(TOKEN)
    try:
        yield capsys
    finally:
        logs.masker.secrets.discard(TOKEN)
        structlog.configure(**previous)
        root.handlers[:] = handlers
        root.setLevel(level)


def test_configured_logging_masks_event_fields(configured: pytest.CaptureFixture[str]) -> None:
    """Once configured, a structlog event carrying the token is printed masked."""
    configure_logging(level="INFO", json=True)
    structlog.get_logger("test").info("http.retry", error=f"refused {TOKEN}")
    out = configured.readouterr().out
    assert "http.retry" in out
    assert TOKEN not in out
    assert MASK in out


def test_configured_logging_masks_tracebacks(configured: pytest.CaptureFixture[str]) -> None:
    """The token inside an exception logged with its traceback is masked in the output."""
    configure_logging(level="INFO", json=True)
    try:
        raise RuntimeError(f"the API refused Bearer {TOKEN}")
    except RuntimeError:
        structlog.get_logger("test").exception("sync.run.failed")
    out = configured.readouterr().out
    assert "sync.run.failed" in out
    assert TOKEN not in out
