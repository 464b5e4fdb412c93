"""The request log now lives in the sandbox kit; these names stay importable from here."""

from sync.apis.sandbox_kit.requestlog import REDACTED, LoggedRequest, redacted_headers

__all__ = ["REDACTED", "LoggedRequest", "redacted_headers"]
