"""The one exception tree of contacts-sync, grouped by what the caller does next.

    SyncError                      root; carries a message fit for a user
    ├── ConfigError                bad setting or usage: fix it and run again (exit 2)
    │   ├── NoStore                a command that reads a store found none where it points
    │   └── AccountMismatch        the API reaches another account than the store belongs to
    ├── FatalError                 the run cannot go on: stop it (exit 3)
    │   ├── AuthError              401/403: the token is wrong or lacks rights
    │   ├── InvalidResponse        the API answered outside its documented envelope
    │   ├── StoreError             the local database is damaged, foreign or unreachable
    │   └── SafetyStop             a guard refused (e.g. a pull that would flag most contacts)
    ├── RetryableError             try the same request again later
    │   ├── RateLimited            429, with the server's hint of how long to wait
    │   ├── ServerUnavailable      5xx, HTML from a proxy
    │   └── NetworkError           timeouts, refused or dropped connections
    ├── RequestRejected            the server refused one request (400/404/409/422): record it,
    │   │                          go on with the others
    │   ├── ContactGone            404 to a PATCH: the contact was deleted at the API
    │   └── PageTooLarge           422 on a list's `limit`: ask smaller pages
    ├── Interrupted                a shutdown signal stopped the run between two steps
    └── LockHeld                   another sync holds the store's lock (exit 75)

httpx errors and HTTP statuses are translated into these inside the API client
and nowhere else.  Messages never carry the API token.
"""

from __future__ import annotations


class SyncError(Exception):
    """Root of every error contacts-sync raises on purpose."""

    request_id: str | None = None  # the API's id of the failed call, for support


class ConfigError(SyncError):
    """A setting or command-line argument is wrong; the message names it."""


class NoStore(ConfigError):
    """There is no contacts-sync store where the settings point; nothing was created."""


class AccountMismatch(ConfigError):
    """The token and URL reach another account than the store belongs to; nothing was sent."""


class FatalError(SyncError):
    """The run cannot continue; nothing more is sent."""


class AuthError(FatalError):
    """The API refused the credentials (401) or the permission (403)."""


class InvalidResponse(FatalError):
    """A response did not follow the documented envelope; it changed nothing locally."""

    def __init__(self, message: str, *, request_id: str | None = None) -> None:
        # The request_id is what support asks for: it belongs in the message users see.
        super().__init__(f"{message} (request_id {request_id})" if request_id else message)
        self.request_id = request_id


class StoreError(FatalError):
    """The local database cannot be used as a contacts-sync store."""


class ConstraintViolated(StoreError):
    """One change broke a constraint of the store (a row edited by hand, say): the store
    itself still works, and other changes may go in."""


class SafetyStop(FatalError):
    """A guard refused to apply a change that looks like a fault rather than intent."""


class RetryableError(SyncError):
    """The same request may succeed later."""

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class RateLimited(RetryableError):
    """429: the server asked us to slow down."""


class ServerUnavailable(RetryableError):
    """5xx or a proxy's error page."""


class NetworkError(RetryableError):
    """No usable answer arrived: timeout, refused or dropped connection."""


class RequestRejected(SyncError):
    """The server refused one request (400/404/409/422) for a reason resending will not fix."""

    def __init__(self, message: str, *, status: int, request_id: str | None) -> None:
        super().__init__(message)
        self.status = status
        self.request_id = request_id


class ContactGone(RequestRejected):
    """A write named a contact the API no longer has (404 to a PATCH): deleted there."""


class PageTooLarge(RequestRejected):
    """The API refused the page size asked for (a 422 on `limit`); `limit_max` is the
    largest it said it takes, when it said."""

    def __init__(self, message: str, *, limit_max: int | None, request_id: str | None = None) -> None:
        super().__init__(message, status=422, request_id=request_id)
        self.limit_max = limit_max


class Interrupted(SyncError):
    """A shutdown was asked for; the run stopped between two steps, nothing half-done."""


class LockHeld(SyncError):
    """Another sync of the same store and account is running."""
