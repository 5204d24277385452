"""Pure ledger rules (no HTTP)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hokodo_emulator import ledger

NOW = datetime(2024, 1, 1, tzinfo=UTC)


def make_dp(authorisation: int = 10000, expires_in_days: int | None = 28) -> ledger.DeferredPayment:
    expires = NOW + timedelta(days=expires_in_days) if expires_in_days else None
    return ledger.DeferredPayment("defpay-x", "P-AAAA-BBBB", "order-x", "GBP", NOW, expires, authorisation)


def act(dp, action, amount=None, metadata=None):
    event, _ = ledger.apply(dp, action, amount, metadata or {}, now=NOW, event_id="dpevt-1")
    return event


def test_capture_within_authorisation_is_protected():
    dp = make_dp()
    event = act(dp, "capture", 4000)
    assert event.type == "capture"
    assert event.changes == {**ledger.zero_changes(), "authorisation": -4000, "protected_captures": 4000}
    assert (dp.authorisation, dp.protected_captures, dp.status) == (6000, 4000, "captured")


def test_capture_beyond_authorisation_excess_is_unprotected():
    dp = make_dp()
    event = act(dp, "capture", 12500)
    assert event.changes["authorisation"] == -10000
    assert event.changes["protected_captures"] == 10000
    assert event.changes["unprotected_captures"] == 2500
    assert (dp.authorisation, dp.protected_captures, dp.unprotected_captures) == (0, 10000, 2500)


def test_refund_releases_unprotected_first_then_protected():
    dp = make_dp()
    act(dp, "capture", 12000)
    first = act(dp, "refund", 1500)
    assert (first.changes["unprotected_captures"], first.changes["protected_captures"]) == (-1500, 0)
    second = act(dp, "refund", 1000)
    assert (second.changes["unprotected_captures"], second.changes["protected_captures"]) == (-500, -500)
    assert second.changes["refunds"] == 1000
    assert (dp.unprotected_captures, dp.protected_captures, dp.refunds) == (0, 9500, 2500)


def test_over_refund_and_over_void_are_rejected_without_changes():
    dp = make_dp()
    act(dp, "capture", 3000)
    with pytest.raises(ledger.LedgerError) as refund:
        act(dp, "refund", 3001)
    assert refund.value.body() == {"amount": ["Refund amount exceeds the captured amount not yet refunded (3000)."]}
    with pytest.raises(ledger.LedgerError) as void:
        act(dp, "void", 7001)
    assert void.value.body() == {"amount": ["Void amount exceeds the remaining authorisation (7000)."]}
    assert (dp.authorisation, dp.protected_captures, dp.refunds, len(dp.events)) == (7000, 3000, 0, 1)


@pytest.mark.parametrize("bad", [True, False, 100.0, 1.5, "100", 0, -5, None, [1], {"a": 1}])
def test_parse_amount_rejects_everything_but_positive_ints(bad):
    with pytest.raises(ledger.LedgerError) as exc:
        ledger.parse_amount(bad)
    assert exc.value.body() == {"amount": ["A valid positive integer is required."]}


def test_remaining_actions_and_zero_noops():
    dp = make_dp()
    act(dp, "capture", 2500)
    event = act(dp, "void_remaining")
    assert (event.type, event.amount, event.changes["voided_authorisation"]) == ("void", 7500, 7500)
    assert dp.status == "captured"  # some was captured, so not "voided"
    noop, recorded = ledger.apply(dp, "capture_remaining", None, {}, now=NOW, event_id="dpevt-2")
    assert (noop.type, noop.amount, recorded) == ("capture", 0, False)
    assert noop.changes == ledger.zero_changes()
    assert len(dp.events) == 2


def test_void_everything_without_captures_is_voided_and_not_expired_later():
    dp = make_dp()
    act(dp, "void", 4000)
    assert dp.status == "accepted"
    act(dp, "void_remaining")
    assert dp.status == "voided"
    assert ledger.expire(dp, NOW, "dpevt-x") is None
    assert dp.status == "voided" and dp.expired


@pytest.mark.parametrize(
    ("actions", "status"),
    [
        ([], "cancelled"),
        ([("void", 3000)], "cancelled"),
        ([("capture", 3000), ("refund", 3000)], "reversed"),
        ([("capture", 3000), ("refund", 1000)], "captured"),
        ([("capture", 12000), ("refund", 12000)], "reversed"),
    ],
)
def test_final_status_after_expiry(actions, status):
    dp = make_dp()
    for action, amount in actions:
        act(dp, action, amount)
    remaining = dp.authorisation
    event = ledger.expire(dp, NOW, "dpevt-exp")
    assert dp.status == status
    assert dp.authorisation == 0 and dp.expired_authorisation == remaining
    if remaining:
        assert event.type == "expiration" and event.amount == remaining
        assert event.changes == {
            **ledger.zero_changes(),
            "authorisation": -remaining,
            "expired_authorisation": remaining,
        }
    else:
        assert event is None


def test_capture_after_expiry_is_unprotected_and_recaptures():
    dp = make_dp()
    ledger.expire(dp, NOW, "dpevt-exp")
    assert dp.status == "cancelled"
    event = act(dp, "capture", 500)
    assert (event.changes["protected_captures"], event.changes["unprotected_captures"]) == (0, 500)
    assert dp.status == "captured"
    act(dp, "refund", 500)
    assert dp.status == "reversed"


def test_clawback_keeps_status_and_records_event():
    dp = make_dp()
    act(dp, "capture", 10000)
    event = ledger.clawback(dp, 700, NOW, "dpevt-c")
    assert event.type == "clawback"
    assert event.changes == {**ledger.zero_changes(), "clawback": 700}
    assert (dp.clawback_amount, dp.status) == (700, "captured")


def test_money_fields_stay_ints():
    dp = make_dp()
    act(dp, "capture", 12345)
    act(dp, "refund", 45)
    body = dp.to_dict()
    for key in ("authorisation", "protected_captures", "unprotected_captures", "refunds", "clawback_amount"):
        assert type(body[key]) is int
    assert all(type(v) is int for e in body["events"] for v in e["changes"].values())
