"""Reconciling step by step, in-process: a provider whose search answers are scripted, a real
ledger (SQLite) and a clock the test moves. test_reconcile.py runs the same through the local
provider servers; these pin each decision: who becomes sent, pending, failed or stays unknown.
"""

from __future__ import annotations

import time

import pytest

from newsletter.send import reconcile as reconciling
from newsletter.send.ledger import Ledger
from newsletter.send.providers.base import Found, ProviderError, Unsearchable
from newsletter.send.reconcile import (
    AMBIGUOUS,
    SEARCH_TIME,
    Reconciliation,
    look_up_issue,
    reconcile,
    why_not,
)
from newsletter.state import open_url

ISSUE = "vol-1"
T0 = 1_700_000_000.0  # when the batches became unknown (epoch seconds)


class Searching:
    """A provider whose search answers from a table; it records every question."""

    name = "postmark"
    searchable = True
    idempotent = False
    unsearchable_reason = "offers no search of the messages it accepted"

    def __init__(self, has=(), settle=0.0, fail: dict | None = None, clock=None, takes=None):
        self.has = {address: f"id-{address}" for address in has}  # what it accepted
        self.settle = settle
        self.fail = fail or {}  # batch -> the exception its search raises
        self.clock, self.takes = clock, takes or {}  # batch -> seconds its search takes
        self.asked: list[tuple[str, str | None]] = []
        self.budgets: list = []

    def search(self, budget, *, issue: str, batch: str | None = None):
        self.asked.append((issue, batch))
        self.budgets.append(budget)
        if batch in self.takes:
            self.clock.now += self.takes[batch]
        if batch in self.fail:
            raise self.fail[batch]
        yield Found("stranger@example.org", "id-x", batch)  # not of this batch: ignored
        for address, message_id in self.has.items():
            yield Found(address, message_id, batch)


class Clock:
    """time.time() and time.sleep() as reconcile sees them."""

    def __init__(self, now: float):
        self.now, self.slept = now, []
        self.interrupt = False

    def time(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        if self.interrupt:
            raise KeyboardInterrupt
        self.now += seconds


@pytest.fixture
def ledger(tmp_path):
    store = open_url(f"sqlite:///{tmp_path / 'send.db'}")
    yield Ledger(store, ISSUE)
    store.close()


@pytest.fixture
def clock(monkeypatch):
    clock = Clock(T0)
    monkeypatch.setattr(reconciling, "time", clock)
    return clock


def unknown(ledger, batches: dict[str, list[str]], provider="postmark", at=T0, reason=None):
    """Put recipients in the ledger as unknown, by batch, as of `at`."""
    keys = [key for group in batches.values() for key in group]
    ledger.store.begin()
    ledger.store.upsert(ISSUE, [(k, k, n, "pending", None) for n, k in enumerate(keys)], 0.0)
    ledger.store.commit()
    for batch, group in batches.items():
        ledger.mark_inflight(group, batch, provider)
        ledger.mark(group, "unknown", reason or f"no answer{AMBIGUOUS}")
        ledger.store.update(ISSUE, ("updated",), [(at, k) for k in group])


def states(ledger) -> dict[str, tuple[str, str | None, str | None]]:
    """Return {key: (state, message id, reason)} of the issue."""
    rows = ledger.store.db.execute(
        "SELECT key, state, message_id, reason FROM recipients WHERE issue = ?", (ISSUE,)
    )
    return {key: (state, mid, reason) for key, state, mid, reason in rows}


HAS = "reconciled: postmark has it"
HAS_NOT = "reconciled: postmark does not have it"


def test_found_become_sent_and_the_rest_pending_once_settled(ledger, clock):
    unknown(ledger, {"b1": ["a@x.org", "b@x.org", "c@x.org"]})
    provider = Searching(has=["a@x.org", "c@x.org"], settle=60)
    clock.now = T0 + 60  # exactly the settle delay later
    result = reconcile(ledger, provider)
    assert states(ledger) == {
        "a@x.org": ("sent", "id-a@x.org", HAS),
        "b@x.org": ("pending", None, HAS_NOT),
        "c@x.org": ("sent", "id-c@x.org", HAS),
    }
    assert provider.asked == [(ISSUE, "b1")]
    assert (result.batches, result.found, result.absent, result.waiting) == (1, 2, 1, 0)
    assert (result.left_batches, result.left, result.ready_at) == (0, {}, 0.0)
    assert clock.slept == []


def test_the_search_budget_lasts_the_search_time_and_shares_the_limiter(ledger, clock):
    unknown(ledger, {"b1": ["a@x.org"]})
    provider, limiter = Searching(has=["a@x.org"]), object()
    began = time.monotonic()
    reconcile(ledger, provider, limiter=limiter)
    reconcile(ledger, provider)  # nothing unknown any more: not asked again
    (budget,) = provider.budgets
    assert budget.limiter is limiter
    assert began + SEARCH_TIME <= budget.deadline <= time.monotonic() + SEARCH_TIME
    unknown(ledger, {"b2": ["b@x.org"]})
    began = time.monotonic()
    reconcile(ledger, provider, search_time=5)
    assert began + 5 <= provider.budgets[-1].deadline <= time.monotonic() + 5
    assert provider.budgets[-1].limiter is None


def test_absent_is_concluded_only_after_the_settle_delay(ledger, clock):
    unknown(ledger, {"b1": ["a@x.org", "b@x.org"]})
    provider = Searching(has=["a@x.org"], settle=60)
    clock.now = T0 + 10
    notes: list[str] = []
    result = reconcile(ledger, provider, note=notes.append)
    assert clock.slept == [50]  # until 60 s after the batch's last change, not longer
    assert notes == [
        "waiting 50 s for postmark's search to settle before concluding that 1 recipients "
        "were not sent (delivery.reconcile_settle; Ctrl-C to stop waiting: they stay unknown)"
    ]
    assert provider.asked == [(ISSUE, "b1"), (ISSUE, "b1")]  # asked again after the wait
    assert states(ledger)["a@x.org"][0] == "sent" and states(ledger)["b@x.org"][0] == "pending"
    assert (result.batches, result.found, result.absent, result.waiting) == (1, 1, 1, 0)
    assert result.ready_at == T0 + 60


def test_a_message_that_shows_up_late_is_found_not_resent(ledger, clock):
    unknown(ledger, {"b1": ["a@x.org", "b@x.org"]})
    provider = Searching(has=["a@x.org"], settle=60)
    clock.now = T0 + 59.5
    reconcile(ledger, provider, note=lambda text: provider.has.update({"b@x.org": "id-late"}))
    assert states(ledger)["b@x.org"] == ("sent", "id-late", HAS)


def test_without_waiting_the_unsettled_stay_unknown_and_are_counted(ledger, clock):
    unknown(ledger, {"b1": ["a@x.org", "b@x.org", "c@x.org"]})
    unknown(ledger, {"b2": ["d@x.org"]}, at=T0 + 5)
    provider = Searching(has=["a@x.org"], settle=60)
    clock.now = T0 + 10
    result = reconcile(ledger, provider, wait=False)
    assert clock.slept == []
    assert states(ledger)["a@x.org"][0] == "sent"  # what it has is taken at once
    assert [states(ledger)[k][0] for k in ("b@x.org", "c@x.org", "d@x.org")] == ["unknown"] * 3
    assert (result.batches, result.found, result.absent, result.waiting) == (0, 1, 0, 3)
    assert result.ready_at == T0 + 5 + 60  # the latest batch decides


def test_ctrl_c_while_waiting_leaves_them_unknown(ledger, clock):
    unknown(ledger, {"b1": ["a@x.org", "b@x.org"]})
    provider = Searching(has=["a@x.org"], settle=60)
    clock.interrupt = True
    result = reconcile(ledger, provider)
    assert clock.slept == [60]
    assert states(ledger)["b@x.org"][0] == "unknown"
    assert (result.found, result.absent, result.waiting, result.ready_at) == (1, 0, 1, T0 + 60)
    assert provider.asked == [(ISSUE, "b1")]


def test_no_wait_when_the_delay_passed_during_the_search(ledger, clock):
    unknown(ledger, {"b1": ["a@x.org", "b@x.org"]})
    provider = Searching(has=["a@x.org"], settle=60, clock=clock, takes={"b1": 30})
    clock.now = T0 + 30  # the first search ends at T0 + 60
    notes: list[str] = []
    result = reconcile(ledger, provider, note=notes.append)
    assert clock.slept == [] and notes == []
    assert states(ledger)["b@x.org"][0] == "pending"
    assert (result.batches, result.absent, result.waiting) == (1, 1, 0)


def test_no_wait_when_the_delay_ends_as_the_round_does(ledger, clock):
    unknown(ledger, {"b1": ["a@x.org"], "b2": ["b@x.org"]})
    provider = Searching(has=["b@x.org"], settle=60, clock=clock, takes={"b2": 50})
    clock.now = T0 + 10  # b1 is not settled; asking about b2 takes until T0 + 60
    notes: list[str] = []
    reconcile(ledger, provider, note=notes.append)
    assert clock.slept == [] and notes == []  # no "waiting 0 s"
    assert provider.asked == [(ISSUE, "b1"), (ISSUE, "b2"), (ISSUE, "b1")]
    assert states(ledger)["a@x.org"][0] == "pending"


def test_giving_up_fails_the_absent_with_their_last_error(ledger, clock):
    unknown(
        ledger, {"b1": ["a@x.org", "b@x.org"]}, reason=f"postmark (HTTP 502): gateway{AMBIGUOUS}"
    )
    unknown(ledger, {"b2": ["c@x.org"]})
    ledger.mark(["c@x.org"], "unknown", None)
    provider = Searching(has=["a@x.org"])
    result = reconcile(ledger, provider, give_up="gave up after 3 tries")
    assert states(ledger) == {
        "a@x.org": ("sent", "id-a@x.org", HAS),
        "b@x.org": ("failed", None, "gave up after 3 tries: postmark (HTTP 502): gateway"),
        "c@x.org": ("failed", None, "gave up after 3 tries: no answer"),
    }
    assert (result.batches, result.found, result.absent) == (2, 1, 2)


def test_giving_up_waits_for_the_settle_delay_too(ledger, clock):
    unknown(ledger, {"b1": ["a@x.org"]})
    result = reconcile(ledger, Searching(settle=60), give_up="gave up", wait=False)
    assert states(ledger)["a@x.org"][0] == "unknown" and result.waiting == 1


def test_a_batch_the_provider_has_whole_needs_no_wait(ledger, clock):
    unknown(ledger, {"b1": ["a@x.org", "b@x.org"]})
    result = reconcile(ledger, Searching(has=["a@x.org", "b@x.org"], settle=600))
    assert clock.slept == [] and result.batches == 1 and result.found == 2
    assert {state for state, _, _ in states(ledger).values()} == {"sent"}


def test_a_failed_search_changes_nothing_and_the_others_go_on(ledger, clock):
    unknown(ledger, {"b1": ["a@x.org"], "b2": ["b@x.org"]}, reason="lost")
    failure = ProviderError("postmark", "timed out", 504)
    provider = Searching(has=["b@x.org"], fail={"b1": failure})
    result = reconcile(ledger, provider)
    assert states(ledger) == {
        "a@x.org": ("unknown", None, "lost"),
        "b@x.org": ("sent", "id-b@x.org", HAS),
    }
    assert result.left == {"the search failed: postmark (HTTP 504): timed out": 1}
    assert (result.left_batches, result.batches, result.found) == (1, 1, 1)


def test_an_account_that_cannot_search_stops_every_batch(ledger, clock):
    unknown(ledger, {"b0": ["a@x.org", "b@x.org"], "b1": ["c@x.org"], "b2": ["d@x.org"]})
    unknown(ledger, {"b3": ["e@x.org", "f@x.org"]})
    refusal = Unsearchable("postmark", "no access to messages", 403)
    provider = Searching(has=["a@x.org", "c@x.org"], settle=60, fail={"b2": refusal})
    result = reconcile(ledger, provider)
    why = "postmark (HTTP 403): no access to messages"
    assert provider.asked == [(ISSUE, "b0"), (ISSUE, "b1"), (ISSUE, "b2")]
    assert states(ledger) == {
        "a@x.org": ("sent", "id-a@x.org", HAS),  # taken before the refusal
        "b@x.org": ("unknown", None, f"cannot reconcile: {why}"),  # was waiting
        "c@x.org": ("sent", "id-c@x.org", HAS),
        "d@x.org": ("unknown", None, f"cannot reconcile: {why}"),
        "e@x.org": ("unknown", None, f"cannot reconcile: {why}"),  # never asked
        "f@x.org": ("unknown", None, f"cannot reconcile: {why}"),
    }
    assert result.left == {why: 4} and result.left_batches == 3
    assert clock.slept == []


def test_batches_sent_through_another_provider_are_left_alone(ledger, clock):
    unknown(ledger, {"b1": ["a@x.org", "b@x.org"]}, provider="mailgun")
    unknown(ledger, {"b2": ["c@x.org"]})
    ledger.store.update(ISSUE, ("provider",), [(None, "c@x.org")])  # from before providers
    provider = Searching(has=["a@x.org", "c@x.org"])
    result = reconcile(ledger, provider)
    assert provider.asked == [(ISSUE, "b2")]
    assert states(ledger)["a@x.org"][0] == "unknown" and states(ledger)["c@x.org"][0] == "sent"
    assert result.left == {"sent through mailgun, not postmark": 2}
    assert (result.left_batches, result.batches) == (1, 1)


class Unsearching(Searching):
    name = "ses"
    searchable = False

    def search(self, budget, *, issue, batch=None):  # pragma: no cover - must not be asked
        raise AssertionError("asked a provider that cannot search")


def test_a_provider_without_search_leaves_them_unknown_and_says_why(ledger, clock):
    unknown(ledger, {"b1": ["a@x.org", "b@x.org"], "b2": ["c@x.org"]}, provider="ses")
    before = states(ledger)
    result = reconcile(ledger, Unsearching())
    assert states(ledger) == before
    assert result.left == {"ses offers no search of the messages it accepted": 3}
    assert (result.left_batches, result.batches, result.found, result.absent) == (2, 0, 0, 0)
    assert why_not(Unsearching()) == "ses offers no search of the messages it accepted"


@pytest.mark.parametrize("searchable", [False, True])
def test_an_idempotent_provider_is_not_asked(ledger, clock, searchable):
    """Its unknown are sent again with the same key: the provider drops the repeat."""
    provider = Unsearching()
    provider.idempotent, provider.searchable = True, searchable
    unknown(ledger, {"b1": ["a@x.org"]}, provider="ses")
    before = states(ledger)
    result = reconcile(ledger, provider)
    assert states(ledger) == before and result == Reconciliation()
    assert why_not(provider) is None


def test_nothing_unknown_asks_nothing(ledger):
    result = reconcile(ledger, Unsearching())
    assert result == Reconciliation()
    assert why_not(Searching()) is None


def test_reconciliations_add_up():
    total = Reconciliation(batches=1, found=2, absent=3, waiting=4, ready_at=5.0)
    total.cannot("x", 2)
    later = Reconciliation(batches=10, found=20, absent=30, waiting=1, ready_at=9.0)
    later.cannot("y", 1)
    later.cannot("y", 4)
    total.add(later)
    assert total == Reconciliation(
        batches=11, found=22, absent=33, waiting=1, ready_at=9.0, left_batches=2, left={"y": 5}
    )


def test_look_up_issue_lists_what_the_provider_has():
    provider = Searching(has=["a@x.org"])
    limiter = object()
    lookup = look_up_issue(provider, ISSUE, limiter=limiter)
    assert [f.address for f in lookup.found] == ["stranger@example.org", "a@x.org"]
    assert lookup.complete and lookup.problem is None
    assert provider.asked == [(ISSUE, None)]
    (budget,) = provider.budgets
    assert budget.limiter is limiter
    assert budget.deadline <= time.monotonic() + SEARCH_TIME
    assert budget.deadline >= time.monotonic() + SEARCH_TIME - 60


def test_look_up_issue_says_when_it_cannot_know():
    lookup = look_up_issue(Unsearching(), ISSUE)
    assert (lookup.found, lookup.complete) == ([], False)
    assert lookup.problem == "ses offers no search of the messages it accepted"
    failing = Searching(fail={None: ProviderError("postmark", "paging.next points elsewhere")})
    lookup = look_up_issue(failing, ISSUE)
    assert (lookup.found, lookup.complete) == ([], False)
    assert lookup.problem == "postmark: paging.next points elsewhere"


def test_look_up_issue_keeps_what_it_found_before_a_failure():
    class Failing(Searching):
        def search(self, budget, *, issue, batch=None):
            yield Found("a@x.org", "id-a", "b1")
            raise ProviderError("mailgun", "rate limited", 429)

    lookup = look_up_issue(Failing(), ISSUE)
    assert [f.address for f in lookup.found] == ["a@x.org"] and not lookup.complete
    assert lookup.problem == "mailgun (HTTP 429): rate limited"


def test_an_internationalised_domain_reported_in_idna_form_is_found(ledger, clock):
    # We send "bücher.example" as "xn--bcher-kva.example", and providers report it so.
    unknown(ledger, {"b1": ["ana@bücher.example", "bo@bücher.example"]})
    provider = Searching(has=["Ana@XN--BCHER-KVA.example"])
    result = reconcile(ledger, provider)
    assert states(ledger) == {
        "ana@bücher.example": ("sent", "id-Ana@XN--BCHER-KVA.example", HAS),
        "bo@bücher.example": ("pending", None, HAS_NOT),
    }
    assert (result.found, result.absent) == (1, 1)
