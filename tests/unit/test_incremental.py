"""The pure decisions of incremental pulls: instants, the probe, the mark, the walk kind."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sync.incremental import (
    OVERLAP,
    REFUSED,
    ListAnswer,
    ProbeRecord,
    PullHistory,
    PullPolicy,
    Verdict,
    WalkProgress,
    format_instant,
    judge_probe,
    parse_instant,
    scan_page,
    walk_plan,
)

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def stamp(moment: datetime) -> str:
    return format_instant(moment)


def contact(contact_id: int, updated: datetime | str | None) -> dict[str, object]:
    return {"id": contact_id, "updated_at": stamp(updated) if isinstance(updated, datetime) else updated}


# --- instants ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-03-01T12:00:00Z", T0),
        ("2026-03-01t12:00:00z", T0),
        ("2026-03-01 12:00:00Z", T0),
        ("2026-03-01T14:00:00+02:00", T0),
        ("2026-03-01T07:30:00-04:30", T0),
        ("2026-03-01T12:00:00.5Z", T0 + timedelta(milliseconds=500)),
        ("2026-03-01T12:00:00.123456789Z", T0 + timedelta(microseconds=123456)),
        ("2026-03-01T12:00:00.000001+00:00", T0 + timedelta(microseconds=1)),
        ("2026-03-01T11:59:60Z", T0 - timedelta(microseconds=1)),
    ],
)
def test_parse_instant_reads_rfc3339_spellings(text: str, expected: datetime) -> None:
    """Z or offsets, any fraction (cut at microseconds), T/t/space, and a leap second all name the instant."""
    assert parse_instant(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "2026-03-01T12:00:00",  # no zone: which instant?
        "2026-03-01",
        "2026-13-01T12:00:00Z",
        "2026-03-01T12:00:00+24:00",
        "yesterday",
        "",
        None,
        1772366400,
    ],
)
def test_parse_instant_refuses_what_names_no_instant(text: object) -> None:
    """A time without a zone, an impossible date or a non-string is not an instant."""
    assert parse_instant(text) is None


@given(st.datetimes(timezones=st.just(UTC), min_value=datetime(1900, 1, 1), max_value=datetime(2999, 1, 1)))
def test_format_then_parse_is_the_same_instant(moment: datetime) -> None:
    """What we send as a filter bound reads back as exactly the instant it was made from."""
    text = format_instant(moment)
    assert text.endswith("Z") and "+" not in text
    assert parse_instant(text) == moment


@given(
    st.datetimes(min_value=datetime(1900, 1, 2), max_value=datetime(2998, 1, 1)),
    st.integers(min_value=-23 * 60, max_value=23 * 60),
)
def test_offsets_compare_by_instant_not_by_text(naive: datetime, minutes: int) -> None:
    """The same instant spelt with any offset parses equal to its UTC spelling."""
    zone = timezone(timedelta(minutes=minutes))
    local = naive.replace(tzinfo=zone)
    assert parse_instant(local.isoformat()) == local.astimezone(UTC)


def test_format_instant_refuses_a_naive_datetime() -> None:
    """A naive datetime would be read in some unknown zone: refused."""
    with pytest.raises(ValueError, match="time zone"):
        format_instant(datetime(2026, 3, 1))


# --- the probe ------------------------------------------------------------------------------

EMPTY = ListAnswer(ids=(), has_more=False, total=0)
PAGE = ListAnswer(ids=tuple(range(1, 201)), has_more=True, total=1000)


def test_probe_honoured_when_future_is_empty_and_past_lists_everything() -> None:
    """Nothing after the far future, the whole list after the far past: the filter is honoured."""
    past = ListAnswer(ids=tuple(range(500, 700)), has_more=True, total=1000)  # another order
    assert judge_probe(EMPTY, past, PAGE).verdict == "honoured"


def test_probe_honoured_on_a_one_page_list_needs_the_same_ids() -> None:
    """When the whole list fits on one page, the past-filtered page must hold exactly its ids."""
    whole = ListAnswer(ids=(1, 2, 3), has_more=False, total=3)
    assert judge_probe(EMPTY, ListAnswer(ids=(3, 1, 2), has_more=False, total=3), whole).verdict == "honoured"
    other = judge_probe(EMPTY, ListAnswer(ids=(1, 2, 4), has_more=False, total=3), whole)
    assert other.verdict == "ignored"


def test_probe_ignored_when_the_far_future_lists_contacts() -> None:
    """A server that ignores the filter lists its contacts even for the far future."""
    judgement = judge_probe(PAGE, PAGE, PAGE)
    assert judgement.verdict == "ignored"
    assert "1000" in judgement.reason


def test_probe_ignored_when_the_far_future_says_a_total() -> None:
    """An empty page that still counts contacts is no honoured filter."""
    assert judge_probe(ListAnswer((), False, 5), PAGE, PAGE).verdict == "ignored"


@pytest.mark.parametrize(
    "past",
    [
        ListAnswer(ids=tuple(range(1, 201)), has_more=True, total=999),  # one contact dropped
        ListAnswer(ids=tuple(range(1, 150)), has_more=False, total=None),  # a short page
        ListAnswer(ids=tuple(range(1, 201)), has_more=False, total=None),  # no more pages
    ],
)
def test_probe_ignored_when_the_past_filter_drops_contacts(past: ListAnswer) -> None:
    """A filter that drops contacts in range (e.g. without updated_at) would hide them from every walk."""
    assert judge_probe(EMPTY, past, PAGE).verdict == "ignored"


@pytest.mark.parametrize(("future", "past"), [(REFUSED, PAGE), (EMPTY, REFUSED), (REFUSED, REFUSED)])
def test_probe_unsupported_when_a_filter_is_refused(future: object, past: object) -> None:
    """A 400 to either filtered request means the server has no such filter."""
    assert judge_probe(future, past, PAGE).verdict == "unsupported"  # type: ignore[arg-type]


def test_probe_inconclusive_on_an_empty_account() -> None:
    """With nothing listed, an honoured filter and an ignored one look alike."""
    assert judge_probe(EMPTY, EMPTY, EMPTY).verdict == "inconclusive"


# --- one walk ------------------------------------------------------------------------------------


def test_scan_page_finds_the_latest_instant_across_spellings() -> None:
    """The latest updated_at is found by instant, whatever offset or fraction each is spelt with."""
    page = [
        contact(1, "2026-03-01T12:00:00Z"),
        contact(2, "2026-03-01T13:30:00+02:00"),  # 11:30Z
        contact(3, "2026-03-01T12:00:00.25Z"),
    ]
    assert scan_page(page, None).highest == T0 + timedelta(milliseconds=250)


@pytest.mark.parametrize(
    ("texts", "expected"),
    [
        # All in the plain spelling: the latest text is the latest instant.
        (["2026-03-01T12:00:00Z", "2026-03-02T00:00:00Z", "2026-02-28T23:59:59Z"], "2026-03-02T00:00:00Z"),
        # The latest plain text is no date: it is skipped, the next one counts.
        (["2026-03-01T12:00:00Z", "2026-13-01T00:00:00Z"], "2026-03-01T12:00:00Z"),
        # A leap second sorts after :59 and reads as the minute's last microsecond.
        (["2026-03-01T23:59:59Z", "2026-03-01T23:59:60Z"], "2026-03-01T23:59:59.999999Z"),
        # One other spelling on the page: read by instant, not by text.
        (["2026-03-01T12:00:00Z", "2026-03-01T12:30:00+02:00"], "2026-03-01T12:00:00Z"),
        (["2026-03-01T12:00:00Z", "2026-03-01T12:00:00.5Z"], "2026-03-01T12:00:00.5Z"),
        (["2026-03-01T12:00:00Z", None, 20260302], "2026-03-01T12:00:00Z"),
        # Texts whose lengths add up to whole stamps but are not each one.
        (["2026-03-01T12:00:00Z2026-03-0", "1T12:00:01Z"], None),
        ([None], None),
    ],
)
def test_scan_page_highest_is_the_latest_readable_instant(texts: list[object], expected: str | None) -> None:
    """A full walk's page: the latest instant among those that read as one, whatever the others hold."""
    page = [contact(number, text) for number, text in enumerate(texts)]  # type: ignore[arg-type]
    assert scan_page(page, None).highest == (parse_instant(expected) if expected else None)
    assert scan_page(iter(page), None).highest == scan_page(page, None).highest


def test_scan_page_counts_contacts_outside_the_filter() -> None:
    """Listed contacts older than the bound, or without a readable updated_at, are outside the filter."""
    page = [contact(1, T0), contact(2, T0 - timedelta(seconds=1)), contact(3, None), contact(4, "soon")]
    assert scan_page(page, T0).outside == 3
    assert scan_page(page, None).outside == 0


def test_full_walk_mark_is_the_latest_updated_at_when_nothing_is_newer_than_its_start() -> None:
    """A quiet account: the mark is the latest updated_at listed."""
    walk = WalkProgress.start("full").observe(
        [contact(1, T0 - timedelta(hours=2)), contact(2, T0 - timedelta(hours=1))], stamp(T0)
    )
    walk = walk.observe([contact(3, T0 - timedelta(hours=3))], stamp(T0 + timedelta(minutes=1)))
    assert walk.mark(previous=None, walk_seconds=60) == T0 - timedelta(hours=1)


def test_contact_edited_behind_a_full_walk_is_caught_by_the_next_filtered_walk() -> None:
    """An edit behind the walk, while later pages list later edits, is at or after the next bound."""
    start = T0
    walk = WalkProgress.start("full").observe([contact(1, start - timedelta(days=3))], stamp(start))
    # Contact 1 is edited at start+1min, after its page; contact 2 at start+20min, before its page.
    edited_behind = start + timedelta(minutes=1)
    walk = walk.observe([contact(2, start + timedelta(minutes=20))], stamp(start + timedelta(minutes=24)))
    mark = walk.mark(previous=None, walk_seconds=24 * 60)
    assert mark == start
    history = PullHistory(mark=mark, last_full_walk_at=T0, probe=ProbeRecord("honoured", T0))
    plan = walk_plan(history, now=T0 + timedelta(hours=1), full_requested=False)
    assert plan.kind == "filtered" and plan.gte is not None
    assert plan.gte <= edited_behind


def test_without_the_api_timestamp_the_walk_duration_steps_the_mark_back() -> None:
    """No envelope timestamp: the mark steps back by the walk's duration, so edits behind it are caught."""
    walk = WalkProgress.start("full").observe([contact(1, T0)], None)
    walk = walk.observe([contact(2, T0 + timedelta(minutes=20))], None)
    assert walk.mark(previous=None, walk_seconds=25 * 60) == T0 - timedelta(minutes=5)


def test_resumed_walk_without_api_timestamp_proves_no_mark() -> None:
    """A walk resumed in another process has no known duration: a full one sets no mark."""
    walk = WalkProgress(kind="full", resumed=True).observe([contact(1, T0)], None)
    assert walk.mark(previous=T0 - timedelta(days=1), walk_seconds=10) is None


def test_future_dated_contact_cannot_push_the_mark_past_the_walk_start() -> None:
    """A contact stamped in the future (a writer's clock ahead) would otherwise hide every later edit."""
    walk = WalkProgress.start("full").observe([contact(1, T0 + timedelta(days=365))], stamp(T0))
    assert walk.mark(previous=None, walk_seconds=1) == T0


def test_empty_filtered_walk_keeps_the_previous_mark() -> None:
    """A no-op incremental run lists nothing and keeps the mark where it was."""
    previous = T0 - timedelta(hours=1)
    walk = WalkProgress.start("filtered", gte=previous - OVERLAP).observe([], stamp(T0))
    assert walk.mark(previous=previous, walk_seconds=0.1) == previous


def test_filtered_walk_that_lists_old_contacts_is_detected_and_proves_no_new_mark() -> None:
    """A server that honoured the filter and now ignores it lists old contacts: flagged, mark unchanged."""
    previous = T0 - timedelta(hours=1)
    walk = WalkProgress.start("filtered", gte=previous - OVERLAP)
    walk = walk.observe(
        [contact(1, T0 - timedelta(days=30)), contact(2, T0 - timedelta(minutes=5))], stamp(T0)
    )
    assert walk.outside_filter and not walk.flags_disconnections
    assert walk.mark(previous=previous, walk_seconds=1) == previous
    history = PullHistory(mark=previous, last_full_walk_at=T0, probe=ProbeRecord("honoured", T0))
    after = history.after_filter_ignored(walk, T0)
    assert after.probe is not None and after.probe.verdict == "ignored" and after.mark == previous
    assert walk_plan(after, now=T0 + timedelta(minutes=1), full_requested=False).kind == "full"


def test_only_full_walks_flag_disconnections() -> None:
    """A filtered walk cannot see contacts that left the list."""
    assert WalkProgress.start("full").flags_disconnections
    assert not WalkProgress.start("filtered", gte=T0).flags_disconnections


def test_walk_start_needs_a_bound_exactly_when_filtered() -> None:
    """A filtered walk without a bound (or a full one with one) is a programming error."""
    with pytest.raises(ValueError):
        WalkProgress.start("filtered")
    with pytest.raises(ValueError):
        WalkProgress.start("full", gte=T0)


# --- the run's choice ------------------------------------------------------------------------

HONOURED = ProbeRecord("honoured", T0)


def probed(verdict: Verdict, age: timedelta = timedelta(0)) -> PullHistory:
    return PullHistory(mark=T0, last_full_walk_at=T0, probe=ProbeRecord(verdict, T0 + age))


READY = PullHistory(mark=T0 - timedelta(hours=1), last_full_walk_at=T0 - timedelta(hours=2), probe=HONOURED)


@pytest.mark.parametrize(
    ("history", "full_requested", "kind"),
    [
        (READY, False, "filtered"),
        (READY, True, "full"),
        (PullHistory(), False, "full"),
        (PullHistory(mark=T0, probe=HONOURED), False, "full"),  # never a full walk
        (PullHistory(mark=T0, last_full_walk_at=T0 - timedelta(days=1), probe=HONOURED), False, "full"),
        (PullHistory(mark=T0, last_full_walk_at=T0 + timedelta(hours=1), probe=HONOURED), False, "full"),
        (PullHistory(mark=T0, last_full_walk_at=T0, probe=None), False, "probe"),
        (probed("honoured", -timedelta(days=1)), False, "probe"),  # the probe expired
        (probed("honoured", timedelta(hours=1)), False, "probe"),  # the clock went back
        (probed("ignored"), False, "full"),
        (probed("unsupported"), False, "full"),
        (probed("inconclusive"), False, "full"),
    ],
)  # fmt: skip
def test_walk_plan_table(history: PullHistory, full_requested: bool, kind: str) -> None:
    """Each case of the decision table: --full, no mark, full walk due or clock back, probe age, verdict."""
    plan = walk_plan(history, now=T0 + timedelta(minutes=5), full_requested=full_requested)
    assert plan.kind == kind, plan.reason
    assert (plan.gte is not None) == (kind == "filtered")


def test_filtered_walk_starts_one_overlap_before_the_mark() -> None:
    """The filter's bound is the mark minus the overlap margin."""
    plan = walk_plan(READY, now=T0, full_requested=False, policy=PullPolicy(overlap=timedelta(minutes=7)))
    assert plan.gte == T0 - timedelta(hours=1, minutes=7)


def test_full_walk_every_is_a_setting() -> None:
    """A shorter full_walk_every makes a full walk due sooner."""
    policy = PullPolicy(full_walk_every=timedelta(hours=1))
    assert walk_plan(READY, now=T0, full_requested=False, policy=policy).kind == "full"


def test_after_full_walk_records_its_end_and_mark() -> None:
    """A completed full walk sets the mark and the time of the last full walk."""
    walk = WalkProgress.start("full").observe([contact(1, T0 - timedelta(hours=1))], stamp(T0))
    after = PullHistory().after_walk(walk, now=T0 + timedelta(minutes=3), walk_seconds=180)
    assert after.mark == T0 - timedelta(hours=1)
    assert after.last_full_walk_at == T0 + timedelta(minutes=3)


def test_after_filtered_walk_keeps_the_last_full_walk_time() -> None:
    """A filtered walk moves the mark, never the schedule of full walks."""
    walk = WalkProgress.start("filtered", gte=T0 - timedelta(hours=2)).observe(
        [contact(1, T0 - timedelta(minutes=30))], stamp(T0)
    )
    after = READY.after_walk(walk, now=T0, walk_seconds=1)
    assert after.mark == T0 - timedelta(minutes=30)
    assert after.last_full_walk_at == READY.last_full_walk_at


def test_history_round_trips_through_text() -> None:
    """What is saved as a checkpoint reads back the same."""
    history = PullHistory(
        mark=T0 + timedelta(microseconds=5),
        last_full_walk_at=T0,
        probe=ProbeRecord("ignored", T0, "listed 3"),
    )
    assert PullHistory.loads(history.dumps()) == history
    assert PullHistory.loads(PullHistory().dumps()) == PullHistory()


def test_walk_progress_round_trips_and_comes_back_resumed() -> None:
    """A walk saved with its cursor reads back the same, marked as resumed in another process."""
    walk = WalkProgress.start("filtered", gte=T0).observe([contact(1, T0 + timedelta(seconds=3))], stamp(T0))
    back = WalkProgress.loads(walk.dumps())
    assert back is not None and back.resumed
    assert replace(back, resumed=False) == walk


@pytest.mark.parametrize(
    "text",
    [None, "", "{", "[]", '{"kind": "filtered", "outside": 0, "pages": 1}', '{"kind": "full", "pages": -1}'],
)
def test_unreadable_walk_progress_means_starting_the_walk_over(text: str | None) -> None:
    """A damaged saved walk is not resumed."""
    assert WalkProgress.loads(text) is None


@pytest.mark.parametrize("text", [None, "", "not json", "[]", '{"mark": 5, "probe": {"verdict": "maybe"}}'])
def test_unreadable_history_is_forgotten_so_the_next_walk_is_full(text: str | None) -> None:
    """A damaged checkpoint never breaks a run: it only costs a full walk."""
    history = PullHistory.loads(text)
    assert walk_plan(history, now=T0, full_requested=False).kind == "full"


@given(
    st.lists(st.integers(min_value=0, max_value=3600), min_size=1, max_size=30),
    st.lists(st.tuples(st.integers(min_value=0, max_value=3600), st.integers(0, 49)), max_size=40),
    st.booleans(),
)
def test_no_edit_made_during_a_walk_falls_before_the_next_bound(
    page_offsets: list[int], edits: list[tuple[int, int]], with_timestamp: bool
) -> None:
    """A walk of 50 contacts while they are edited: every edit the walk missed is >= the next bound."""
    page_times = sorted(T0 + timedelta(seconds=s) for s in page_offsets)
    updated = {cid: T0 - timedelta(days=1, seconds=cid) for cid in range(50)}
    edit_log = sorted((T0 + timedelta(seconds=s), cid) for s, cid in edits)
    per_page = -(-50 // len(page_times))
    walk = WalkProgress.start("full")
    fetched_at: dict[int, datetime] = {}
    for number, served in enumerate(page_times):
        for when, cid in edit_log:
            if when <= served:
                updated[cid] = max(updated[cid], when)
        ids = range(number * per_page, min(50, (number + 1) * per_page))
        fetched_at.update({cid: served for cid in ids})
        page = [contact(cid, updated[cid]) for cid in ids]
        walk = walk.observe(page, stamp(served) if with_timestamp else None)
    seconds = (page_times[-1] - page_times[0]).total_seconds()
    mark = walk.mark(previous=None, walk_seconds=seconds)
    assert mark is not None
    gte = mark - OVERLAP
    missed = [when for when, cid in edit_log if cid in fetched_at and when > fetched_at[cid]]
    assert all(when >= gte for when in missed)
