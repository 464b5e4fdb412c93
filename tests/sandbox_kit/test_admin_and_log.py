"""The kit's shared admin routes and the request log a sandbox state mixes in."""

from __future__ import annotations

import threading

import pytest

from sync.apis.sandbox_kit.admin import json_object, shared_admin_data
from sync.apis.sandbox_kit.faults import FaultPlan, FaultRule, FaultSpecError
from sync.apis.sandbox_kit.requestlog import LoggedRequest, RequestLogging


class _Refused(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class _Plan(FaultPlan):
    @classmethod
    def parse_rule(cls, item: str) -> FaultRule:
        raise FaultSpecError(f"{item!r}: no kinds here")


class _State(RequestLogging):
    def __init__(self, *, limit: int | None = None) -> None:
        self._lock = threading.RLock()
        self.faults = _Plan.parse("")
        self._start_request_log(limit=limit)

    def set_faults(self, plan: str) -> _Plan:
        self.faults = _Plan.parse(plan)
        return self.faults


def _entry(seq: int) -> LoggedRequest:
    return LoggedRequest(seq, "2026-01-01T00:00:00Z", "GET", "/x", {}, {}, b"", None, 200, None, None)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"[1]", "Request body must be a JSON object"),
        (b"{", "Request body is not valid JSON"),
        (b"\xff", "Request body is not valid JSON"),
    ],
)
def test_json_object_refuses_with_the_sandbox_exception(body: bytes, message: str) -> None:
    """Anything but a JSON object is the caller's refusal, 400, with the shared message."""
    with pytest.raises(_Refused, match=message) as refused:
        json_object(body, _Refused)
    assert refused.value.status == 400


def test_json_object_reads_an_empty_body_as_an_empty_object() -> None:
    """An admin POST with no body means no options."""
    assert json_object(b"", _Refused) == {}
    assert json_object(b'{"a": 1}', _Refused) == {"a": 1}


def test_shared_routes_answer_faults_log_and_counters_and_nothing_else() -> None:
    """The shared routes give the data; another path is None so the sandbox routes it."""
    state = _State()
    state.record(_entry(state.next_seq()))
    state.count("api_requests")
    assert shared_admin_data(state, "PUT", "/faults", b'{"spec": "seed=3"}', _Refused) == {"spec": "seed=3"}
    assert shared_admin_data(state, "GET", "/faults", b"", _Refused) == {"spec": "seed=3"}
    log = shared_admin_data(state, "GET", "/log", b"", _Refused)
    assert isinstance(log, list) and [entry["seq"] for entry in log] == [1]
    assert shared_admin_data(state, "GET", "/counters", b"", _Refused) == {"api_requests": 1}
    assert shared_admin_data(state, "POST", "/log", b"", _Refused) is None
    assert shared_admin_data(state, "GET", "/contacts", b"", _Refused) is None


@pytest.mark.parametrize(
    ("body", "message"), [(b'{"spec": 5}', "spec must be a string"), (b'{"spec": "x@1"}', "no kinds here")]
)
def test_a_bad_fault_spec_is_a_400_refusal(body: bytes, message: str) -> None:
    """A spec that is not a string, or that the grammar refuses, is the sandbox's 400."""
    with pytest.raises(_Refused, match=message) as refused:
        shared_admin_data(_State(), "PUT", "/faults", body, _Refused)
    assert refused.value.status == 400


def test_the_log_is_in_seq_order_and_forgetting_keeps_the_numbering() -> None:
    """Entries come back by seq; _forget_requests empties log and counters but seq goes on."""
    state = _State()
    first, second = state.next_seq(), state.next_seq()
    state.record(_entry(second))
    state.record(_entry(first))
    state.count("x", 2)
    assert [entry.seq for entry in state.request_log()] == [1, 2]
    assert state.counter_values() == {"x": 2}
    state._forget_requests()
    assert state.request_log() == []
    assert state.counter_values() == {}
    assert state.next_seq() == 3


def test_a_limited_log_keeps_the_newest_entries() -> None:
    """With a limit the oldest entries fall out first."""
    state = _State(limit=2)
    for _ in range(3):
        state.record(_entry(state.next_seq()))
    assert [entry.seq for entry in state.request_log()] == [2, 3]
