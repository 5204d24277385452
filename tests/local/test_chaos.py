"""A small chaos run (`make chaos` with 200 events): the local stack through its real entry points, Hokodo faulting
10% of requests and notifications, duplicates, killed invocations, concurrent invocations per queue, then the
operator's redrive and the reconciliation. Nothing may be lost, applied twice, missed or published twice."""

from __future__ import annotations

import io

import pytest
from hokodo_local.chaos import run


@pytest.mark.parametrize("profile", ["default", "sparse"])
def test_a_small_chaos_run_loses_nothing_and_applies_nothing_twice(profile):
    out = io.StringIO()
    code = run(out, seed=11, events=200, fault_rate=0.1, profile=profile)
    summary = dict(pair.split("=", 1) for pair in out.getvalue().split())
    assert code == 0, out.getvalue()
    assert int(summary["events"]) >= 200 and int(summary["faults"]) > 0 and int(summary["duplicates"]) > 0
    assert int(summary["crashes"]) > 0 and int(summary["published"]) > 0
    for zero in ("lost", "double_applied", "missed_events", "duplicate_events", "ledger_mismatches", "wrong_documents"):
        assert summary[zero] == "0", out.getvalue()
    assert int(summary["applied"]) + int(summary["parked"]) == int(summary["events"])
