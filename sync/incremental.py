"""Incremental pulls: which walk a run makes, what the probe proves, and the high-water mark.

Pure: plain data in, decisions out; the engine fetches, stores and acts.

A *full* walk lists every contact and is the only walk that may flag disconnections.
A *filtered* walk lists only contacts with ``updated_at >= mark - OVERLAP``, using the
API's range filter, and is only made while a recent probe found the filter honoured.

How a run goes (the engine's recipe)::

    plan = walk_plan(history, now=..., full_requested=..., policy=...)
    if plan.kind == "probe":      # fetch the three probe answers, then
        history = history.with_probe(judge_probe(future, past, unfiltered), now)
        plan = walk_plan(history, ...)   # now "full" or "filtered"
    progress = WalkProgress.start(plan.kind, gte=plan.gte)
    for each page:  progress = progress.observe(page contacts, page's envelope timestamp)
                    if progress.outside_filter: record "ignored", restart as a full walk
    on completion:  history = history.after_walk(progress, now=..., walk_seconds=...)

Clocks. The mark comes from the API's own instants (``updated_at`` values and the
envelope ``timestamp``), never from this machine's clock: the two clocks need not
agree. The schedule (when a full walk is due, when the probe expires) uses this
machine's clock, because a wrong answer there only moves a walk earlier or later;
a clock that went backwards makes both due at once.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Final, Literal

WalkKind = Literal["full", "filtered"]
Verdict = Literal["honoured", "ignored", "unsupported", "inconclusive"]

# The probe's two instants: nothing is updated after the first, everything after the second.
# Year 2999 rather than 9999: some servers refuse dates near the end of their calendar.
FAR_FUTURE: Final[datetime] = datetime(2999, 1, 1, tzinfo=UTC)
FAR_PAST: Final[datetime] = datetime(1970, 1, 1, tzinfo=UTC)

# Why the filter starts before the mark. The mark is already clamped to the walk's start by the
# API's clock (see `WalkProgress.mark`), which covers contacts edited while the walk ran. What
# remains: a row whose updated_at was stamped before its transaction committed (it becomes
# visible to list queries after a later instant was already listed), and the API's nodes
# disagreeing on the time (the node that stamps updated_at vs the one that stamps the envelope).
# Both are seconds in practice; two minutes re-fetches only contacts edited in those two minutes.
OVERLAP: Final[timedelta] = timedelta(minutes=2)


@dataclass(frozen=True)
class PullPolicy:
    full_walk_every: timedelta = timedelta(days=1)
    probe_valid_for: timedelta = timedelta(days=1)
    overlap: timedelta = OVERLAP


# --- instants -----------------------------------------------------------------------------

_RFC3339: Final = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?(?:([Zz])|([+-])(\d{2}):(\d{2}))"
)


def parse_instant(text: object) -> datetime | None:
    """An RFC 3339 timestamp as an aware UTC datetime; None when it is not one (or has no zone).

    Accepts ``Z``/``z`` or ``+hh:mm``/``-hh:mm``, ``T``/``t``/space, and any number of
    fractional digits: past microseconds they are cut (rounding down), which keeps a
    ``>=`` against one of our own (microsecond) instants true. A leap second (``:60``)
    becomes the last microsecond of its minute. A time without a zone names no instant.
    """
    if not isinstance(text, str):
        return None
    match = _RFC3339.fullmatch(text.strip())
    if match is None:
        return None
    year, month, day, hour, minute, second, fraction, zulu, sign, off_h, off_m = match.groups()
    micro = int((fraction or "0")[:6].ljust(6, "0"))
    leap = second == "60"
    try:
        moment = datetime(
            int(year),
            int(month),
            int(day),
            int(hour),
            int(minute),
            59 if leap else int(second),
            999_999 if leap else micro,
            tzinfo=UTC,
        )
    except ValueError:  # month 13, hour 25...
        return None
    if zulu is None:
        if int(off_h) > 23 or int(off_m) > 59:
            return None
        offset = timedelta(hours=int(off_h), minutes=int(off_m))
        moment = moment - offset if sign == "+" else moment + offset
    return moment


def format_instant(moment: datetime) -> str:
    """An instant as the filter parameter carries it: UTC, ``Z``, microseconds when any.

    ``Z`` rather than ``+00:00``: an unencoded ``+`` in a query string reads as a space.
    """
    if moment.tzinfo is None:
        raise ValueError("an instant needs a time zone; naive datetimes are ambiguous")
    utc = moment.astimezone(UTC).replace(tzinfo=None)
    return utc.isoformat(timespec="microseconds" if utc.microsecond else "seconds") + "Z"


# --- the probe ------------------------------------------------------------------------------


@dataclass(frozen=True)
class ListAnswer:
    """What the probe needs of one first page of GET /contacts."""

    ids: tuple[int, ...]
    has_more: bool
    total: int | None = None


# A list request answered 400 (the server refuses the filter parameter).
REFUSED: Final = "refused"
ProbeAnswer = ListAnswer | Literal["refused"]


@dataclass(frozen=True)
class Judgement:
    verdict: Verdict
    reason: str


def judge_probe(future: ProbeAnswer, past: ProbeAnswer, unfiltered: ListAnswer) -> Judgement:
    """Whether the API honours ``filter[updated_at][gte]``, from three first pages of the list.

    `future`: filtered on FAR_FUTURE, must list nothing (and say a total of 0, if it
    says one). `past`: filtered on FAR_PAST, older than every contact, must list what
    `unfiltered` lists: the same total when both give one, as many contacts on the page
    and the same `has_more`; when the whole list fits on one page, the same ids. With
    more pages the ids may differ, since a server may walk a filtered list in
    ``updated_at`` order (the sandbox does). Contacts the filter drops although they
    are in range (e.g. without an ``updated_at``) show as a smaller `past`, so such a
    filter counts as ignored: a filtered walk would never see them.
    An empty account proves nothing either way: inconclusive, treated as not honoured.
    """
    if future == REFUSED or past == REFUSED:
        return Judgement("unsupported", "the API answered 400 to filter[updated_at][gte]")
    assert isinstance(future, ListAnswer) and isinstance(past, ListAnswer)  # for mypy
    if future.ids or future.has_more or (future.total or 0) > 0:
        listed = future.total if future.total is not None else len(future.ids)
        return Judgement("ignored", f"filtered on {format_instant(FAR_FUTURE)}, the API listed {listed}")
    if not unfiltered.ids:
        return Judgement("inconclusive", "the list is empty, so a filter cannot be told from none")
    if past.total is not None and unfiltered.total is not None and past.total != unfiltered.total:
        return Judgement(
            "ignored",
            f"filtered on {format_instant(FAR_PAST)} the API counts {past.total} contacts, "
            f"unfiltered {unfiltered.total}",
        )
    if len(past.ids) != len(unfiltered.ids) or past.has_more != unfiltered.has_more:
        return Judgement(
            "ignored",
            f"filtered on {format_instant(FAR_PAST)} the first page lists {len(past.ids)} contacts, "
            f"unfiltered {len(unfiltered.ids)}",
        )
    if not unfiltered.has_more and set(past.ids) != set(unfiltered.ids):
        return Judgement(
            "ignored", f"filtered on {format_instant(FAR_PAST)} the API lists other contacts than unfiltered"
        )
    return Judgement("honoured", "nothing listed after the far future, everything after the far past")


@dataclass(frozen=True)
class ProbeRecord:
    verdict: Verdict
    probed_at: datetime  # this machine's clock: only for the cache's age
    reason: str = ""


# --- one walk -------------------------------------------------------------------------------


@dataclass(frozen=True)
class PageScan:
    highest: datetime | None  # the latest updated_at on the page
    outside: int  # contacts a filtered walk should not have listed


def scan_page(contacts: Iterable[Mapping[str, Any]], gte: datetime | None) -> PageScan:
    """The latest ``updated_at`` of a page and, for a filtered walk, how many contacts lie outside it.

    A contact without a readable ``updated_at`` cannot have matched the filter, so it
    counts as outside too (and never moves the mark).
    """
    if gte is None:
        contacts = list(contacts)  # read twice when the fast look says no
        fast = _highest_plain_utc(contacts)
        if fast is not None:
            return PageScan(fast, 0)
    highest: datetime | None = None
    outside = 0
    for contact in contacts:
        moment = parse_instant(contact.get("updated_at"))
        if moment is None:
            outside += gte is not None
            continue
        if highest is None or moment > highest:
            highest = moment
        if gte is not None and moment < gte:
            outside += 1
    return PageScan(highest, outside)


# Lev's own spelling, 2024-12-01T03:50:33Z, back to back: one regex run checks a whole page.
_PLAIN_UTC_RUN: Final = re.compile(r"(?:[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z)+")


def _highest_plain_utc(contacts: Iterable[Mapping[str, Any]]) -> datetime | None:
    """`scan_page`'s highest for a page whose every ``updated_at`` is spelled the one plain way
    (whole seconds, ``Z``); None when one is not, or when the latest is no date (month 13).

    Such texts sort as their instants do, so only the latest is parsed: a full walk reads
    every contact's ``updated_at``, and parsing each cost more than the rest of this scan.
    """
    texts: list[Any] = [contact.get("updated_at") for contact in contacts]
    if set(map(type, texts)) != {str} or set(map(len, texts)) != {20}:
        return None
    if _PLAIN_UTC_RUN.fullmatch("".join(texts)) is None:
        return None
    return parse_instant(max(texts))


@dataclass(frozen=True)
class WalkProgress:
    """What a walk has proved so far; saved with the walk's cursor so a resumed walk keeps it."""

    kind: WalkKind
    gte: datetime | None = None  # the filter's lower bound (filtered walks)
    started_at: datetime | None = None  # the API's timestamp on the walk's first page
    highest: datetime | None = None  # the latest updated_at listed
    outside: int = 0  # contacts listed although outside the filter
    pages: int = 0
    resumed: bool = False  # continued in another process: its duration is unknown

    @classmethod
    def start(cls, kind: WalkKind, *, gte: datetime | None = None) -> WalkProgress:
        if (kind == "filtered") != (gte is not None):
            raise ValueError("a filtered walk needs its lower bound, a full walk has none")
        return cls(kind=kind, gte=gte)

    def observe(self, contacts: Iterable[Mapping[str, Any]], page_timestamp: object = None) -> WalkProgress:
        """After one page: `page_timestamp` is the answer's envelope ``timestamp`` (the API's clock)."""
        scan = scan_page(contacts, self.gte)
        highest = self.highest
        if scan.highest is not None and (highest is None or scan.highest > highest):
            highest = scan.highest
        started = self.started_at
        if self.pages == 0 and started is None:
            started = parse_instant(page_timestamp)
        return replace(
            self,
            highest=highest,
            outside=self.outside + scan.outside,
            pages=self.pages + 1,
            started_at=started,
        )

    def dumps(self) -> str:
        """As text, to save with the walk's cursor in the same transaction as each page."""
        return json.dumps(
            {
                "kind": self.kind,
                "gte": _text(self.gte),
                "started_at": _text(self.started_at),
                "highest": _text(self.highest),
                "outside": self.outside,
                "pages": self.pages,
            },
            sort_keys=True,
        )

    @classmethod
    def loads(cls, text: str | None) -> WalkProgress | None:
        """A saved walk, marked `resumed`; None when unreadable: then start the walk over."""
        try:
            data = json.loads(text) if text else None
        except ValueError:
            return None
        if not isinstance(data, dict) or data.get("kind") not in ("full", "filtered"):
            return None
        gte = parse_instant(data.get("gte"))
        if (data["kind"] == "filtered") != (gte is not None):
            return None
        outside, pages = data.get("outside"), data.get("pages")
        if not (type(outside) is int and type(pages) is int and outside >= 0 and pages >= 0):
            return None
        return cls(
            kind=data["kind"],
            gte=gte,
            started_at=parse_instant(data.get("started_at")),
            highest=parse_instant(data.get("highest")),
            outside=outside,
            pages=pages,
            resumed=True,
        )

    @property
    def outside_filter(self) -> bool:
        """The API listed contacts its filter excludes: it no longer honours the filter."""
        return self.kind == "filtered" and self.outside > 0

    @property
    def flags_disconnections(self) -> bool:
        """Only a full walk sees every listed contact, so only it may call the others disconnected."""
        return self.kind == "full"

    def mark(self, *, previous: datetime | None, walk_seconds: float | None) -> datetime | None:
        """The high-water mark this walk proves once complete; None: none (the next walk is full).

        Every contact edited after the walk's first page was answered has an ``updated_at``
        at or after that page's timestamp; every one edited before was listed as it is now.
        So the mark is the latest ``updated_at`` listed, but never past the walk's start by
        the API's clock: a contact edited behind the walk (on a page already passed) while
        later pages listed later edits would otherwise fall below the mark and be missed.
        Without the API's timestamp, the walk's duration (measured on a monotonic clock in
        one process) stands in for it; a resumed walk has none, and proves no mark.
        A filtered walk that listed nothing keeps the previous mark. A walk that saw the
        filter ignored proves nothing: the next walk is full anyway.
        """
        if self.outside_filter:
            return previous
        highest = self.highest
        if self.kind == "filtered" and previous is not None:
            highest = previous if highest is None else max(highest, previous)
        if highest is None:
            return None
        if self.started_at is not None:
            return min(highest, self.started_at)
        if walk_seconds is None or self.resumed:
            return previous if self.kind == "filtered" else None
        return highest - timedelta(seconds=walk_seconds)


# --- the run's choice -----------------------------------------------------------------------


@dataclass(frozen=True)
class PullHistory:
    """What the store remembers between runs about incremental pulls."""

    mark: datetime | None = None  # the API's instant: contacts changed since then are not yet pulled
    last_full_walk_at: datetime | None = None  # this machine's clock, when the last full walk ended
    probe: ProbeRecord | None = None

    def with_probe(self, judgement: Judgement, now: datetime) -> PullHistory:
        return replace(self, probe=ProbeRecord(judgement.verdict, now, judgement.reason))

    def after_walk(self, walk: WalkProgress, *, now: datetime, walk_seconds: float | None) -> PullHistory:
        """The history once `walk` completed (save it in the transaction of the walk's last page)."""
        mark = walk.mark(previous=self.mark, walk_seconds=walk_seconds)
        history = replace(self, mark=mark)
        if walk.kind == "full":
            history = replace(history, last_full_walk_at=now)
        return history.after_filter_ignored(walk, now) if walk.outside_filter else history

    def after_filter_ignored(self, walk: WalkProgress, now: datetime) -> PullHistory:
        """A filtered walk met contacts outside its filter: record it, before restarting as a full walk.

        The pages already merged stay merged (they are real contacts); the mark stays
        where it was; the restarted full walk sets it and may flag disconnections.
        """
        reason = f"a filtered walk listed {walk.outside} contacts outside its filter"
        return self.with_probe(Judgement("ignored", reason), now)

    # -- storage as one checkpoint text --------------------------------------------------

    def dumps(self) -> str:
        probe = self.probe
        return json.dumps(
            {
                "mark": _text(self.mark),
                "last_full_walk_at": _text(self.last_full_walk_at),
                "probe": (
                    {"verdict": probe.verdict, "at": format_instant(probe.probed_at), "reason": probe.reason}
                    if probe
                    else None
                ),
            },
            sort_keys=True,
        )

    @classmethod
    def loads(cls, text: str | None) -> PullHistory:
        """The saved history; anything unreadable is forgotten, which only makes the next walk full."""
        try:
            data = json.loads(text) if text else {}
        except ValueError:
            return cls()
        if not isinstance(data, dict):
            return cls()
        probe_data = data.get("probe")
        probe = None
        if isinstance(probe_data, dict):
            verdict, at = probe_data.get("verdict"), parse_instant(probe_data.get("at"))
            if verdict in ("honoured", "ignored", "unsupported", "inconclusive") and at is not None:
                probe = ProbeRecord(verdict, at, str(probe_data.get("reason") or ""))
        return cls(
            mark=parse_instant(data.get("mark")),
            last_full_walk_at=parse_instant(data.get("last_full_walk_at")),
            probe=probe,
        )


def _text(moment: datetime | None) -> str | None:
    return format_instant(moment) if moment else None


@dataclass(frozen=True)
class WalkPlan:
    kind: WalkKind | Literal["probe"]  # "probe": probe first, then ask again
    reason: str
    gte: datetime | None = None  # a filtered walk's lower bound


def walk_plan(
    history: PullHistory, *, now: datetime, full_requested: bool, policy: PullPolicy | None = None
) -> WalkPlan:
    """Which walk this run makes. One branch per case; the first that applies decides."""
    policy = policy or PullPolicy()
    last_full = history.last_full_walk_at
    probe = history.probe
    if full_requested:
        return WalkPlan("full", "a full walk was asked for (--full)")
    if history.mark is None:
        return WalkPlan("full", "no completed walk has set a high-water mark yet")
    if last_full is None:
        return WalkPlan("full", "no full walk has completed yet")
    if last_full > now:
        return WalkPlan("full", "this machine's clock went back since the last full walk")
    if now - last_full >= policy.full_walk_every:
        return WalkPlan("full", f"the last full walk is older than full_walk_every, {policy.full_walk_every}")
    if probe is None or probe.probed_at > now or now - probe.probed_at >= policy.probe_valid_for:
        # Only when a filtered walk could follow: a full walk needs no probe.
        return WalkPlan("probe", "whether the API honours the updated_at filter is not known for today")
    if probe.verdict != "honoured":
        return WalkPlan("full", f"the updated_at filter is {probe.verdict}: {probe.reason}")
    gte = history.mark - policy.overlap
    return WalkPlan("filtered", f"contacts updated since {format_instant(gte)}", gte=gte)
