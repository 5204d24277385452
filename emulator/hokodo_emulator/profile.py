"""Profiles: how much the emulator assumes about what Hokodo's public material never shows.

`default` is the emulator's full, optimistic view (events with ids, oldest first, every total an integer...).
`sparse` assumes only what public evidence shows. Each behaviour can also be switched alone (admin API).

A profile acts only at the edges: how a deferred payment and its events are shown, the webhook retry schedule and
the Idempotency-Key handling. The ledger never sees it: its rules look at internal event kinds, never at the
type names shown, and its totals stay integers.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from . import ledger

TOTALS = (
    "authorisation",
    "protected_captures",
    "unprotected_captures",
    "refunds",
    "voided_authorisation",
    "expired_authorisation",
    "clawback_amount",
)
ORDERS = ("oldest_first", "newest_first")
DEFAULT_KEY_CONFLICT = {"status": 422, "body": {"detail": "Idempotency-Key reused with a different request."}}
SPARSE_KEY_CONFLICT = {
    "status": 400,
    "body": {"idempotency_key": ["A request with this idempotency key was already made with different parameters."]},
}


def _frozen(mapping: Mapping[str, Any]) -> Mapping[str, Any]:
    return MappingProxyType(copy.deepcopy(dict(mapping)))


@dataclass(frozen=True)
class Profile:
    """The behaviours, with the `default` profile's values. Never changed in place: see `changed`."""

    event_ids: bool = True
    events_order: str = "oldest_first"
    event_type_names: Mapping[str, str] = field(default_factory=lambda: _frozen(ledger.TYPES))
    events_field: bool = True
    null_zero_totals: bool = False
    changes_clawback: bool = True
    webhook_retry_delays: tuple[float, ...] | None = None  # None: webhook_attempts and webhook_backoff (doubling)
    documents_idempotency: bool = True
    key_conflict: Mapping[str, Any] = field(default_factory=lambda: _frozen(DEFAULT_KEY_CONFLICT))

    @property
    def name(self) -> str:
        return next((name for name, profile in PROFILES.items() if profile == self), "custom")

    def behaviours(self) -> dict[str, Any]:
        """The JSON view of every behaviour."""
        shown = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        shown["event_type_names"] = dict(self.event_type_names)
        shown["webhook_retry_delays"] = None if self.webhook_retry_delays is None else list(self.webhook_retry_delays)
        shown["key_conflict"] = copy.deepcopy(dict(self.key_conflict))
        return shown

    def view(self) -> dict[str, Any]:
        return {"name": self.name, "behaviours": self.behaviours()}

    def changed(self, behaviours: Mapping[str, Any]) -> Profile:
        """A copy with some behaviours changed (validated); a partial `event_type_names` is merged."""
        values, errors = {}, {}
        for name, value in behaviours.items():
            check = _CHECKS.get(name)
            if check is None:
                errors[name] = ["Unknown behaviour."]
                continue
            try:
                values[name] = check(value, self)
            except ValueError as exc:
                errors[name] = [str(exc)]
        if errors:
            raise ProfileError({"behaviours": errors})
        return dataclasses.replace(self, **values)


class ProfileError(ValueError):
    """Invalid profile settings, as a DRF-style error body."""

    def __init__(self, body: dict[str, Any]) -> None:
        super().__init__(json.dumps(body))
        self.body = body


# -- validation of each behaviour: (value given, the profile it changes) -> the value kept --------
def _flag(value: Any, _: Profile) -> bool:
    if type(value) is not bool:
        raise ValueError("Must be a valid boolean.")
    return value


def _order(value: Any, _: Profile) -> str:
    if value not in ORDERS:
        raise ValueError(f"{json.dumps(value)} is not a valid choice: {' or '.join(ORDERS)}.")
    return value


def _type_names(value: Any, current: Profile) -> Mapping[str, str]:
    if not isinstance(value, dict):
        raise ValueError("Expected an object mapping event kinds to the type names shown.")
    unknown = sorted(set(value) - set(ledger.TYPES))
    if unknown:
        raise ValueError(f"Unknown event kinds: {', '.join(unknown)}. The kinds are {', '.join(ledger.TYPES)}.")
    if not all(isinstance(name, str) and name for name in value.values()):
        raise ValueError("Each type name must be a non-empty string.")
    return _frozen({**current.event_type_names, **value})


def _delays(value: Any, _: Profile) -> tuple[float, ...] | None:
    if value is None:
        return None
    numbers = isinstance(value, list) and all(type(d) in (int, float) and 0 <= d < float("inf") for d in value)
    if not numbers:
        raise ValueError("Expected null or a list of non-negative numbers of seconds.")
    return tuple(value)


def _key_conflict(value: Any, _: Profile) -> Mapping[str, Any]:
    if not isinstance(value, dict) or set(value) != {"status", "body"}:
        raise ValueError('Expected {"status": <400 to 599>, "body": <any JSON>}.')
    if type(value["status"]) is not int or not 400 <= value["status"] <= 599:
        raise ValueError("status must be an integer from 400 to 599.")
    return _frozen(value)


_CHECKS: dict[str, Callable[[Any, Profile], Any]] = {
    "event_ids": _flag,
    "events_order": _order,
    "event_type_names": _type_names,
    "events_field": _flag,
    "null_zero_totals": _flag,
    "changes_clawback": _flag,
    "webhook_retry_delays": _delays,
    "documents_idempotency": _flag,
    "key_conflict": _key_conflict,
}

DEFAULT = Profile()
SPARSE = DEFAULT.changed(
    {
        "event_ids": False,
        "events_order": "newest_first",
        "event_type_names": {
            "capture_remaining": "capture_remaining",
            "void_remaining": "void_remaining",
            "expiration": "expiry",
        },
        "events_field": False,
        "null_zero_totals": True,
        "changes_clawback": False,
        "webhook_retry_delays": [0, 2, 4],
        "documents_idempotency": False,
        "key_conflict": SPARSE_KEY_CONFLICT,
    }
)
PROFILES = {"default": DEFAULT, "sparse": SPARSE}


def named(name: str) -> Profile:
    if name not in PROFILES:
        raise ValueError(f"unknown profile {name!r}: use {' or '.join(PROFILES)}")
    return PROFILES[name]


def updated(current: Profile, data: dict[str, Any]) -> Profile:
    """Apply a `PUT /_admin/profile` body: `{"name"?: "default" | "sparse", "behaviours"?: {...}}`. The
    behaviours change the named profile if one is given, else the current one."""
    unknown = sorted(set(data) - {"name", "behaviours"})
    if unknown:
        raise ProfileError({"detail": f"Unknown fields: {', '.join(unknown)}."})
    base = current
    if "name" in data:
        name = data["name"]
        if not isinstance(name, str) or name not in PROFILES:
            raise ProfileError({"name": [f"{json.dumps(name)} is not a valid choice: {' or '.join(PROFILES)}."]})
        base = PROFILES[name]
    behaviours = data.get("behaviours", {})
    if not isinstance(behaviours, dict):
        raise ProfileError({"behaviours": ["Expected an object of behaviours."]})
    return base.changed(behaviours)


class ProfileSwitch:
    """The profile in force. It may be switched while requests are served: read `current` once per request."""

    def __init__(self, name: str = "default") -> None:
        self._start = named(name)
        self._current = self._start
        self._lock = threading.Lock()  # serialises updates, so that two partial changes both land

    @property
    def current(self) -> Profile:
        return self._current

    def update(self, data: dict[str, Any]) -> Profile:
        with self._lock:
            self._current = updated(self._current, data)
            return self._current

    def reset(self) -> None:
        """Back to the profile given at start."""
        with self._lock:
            self._current = self._start


# -- presentation -------------------------------------------------------------------------------
def show_event(event: dict[str, Any], profile: Profile) -> dict[str, Any]:
    """An event (ledger.Event.to_dict) as shown: its type name, and without `id` or `changes.clawback` if so set."""
    shown = {k: v for k, v in event.items() if k != "kind"}
    shown["type"] = profile.event_type_names[event["kind"]]
    if not profile.event_ids:
        del shown["id"]
    if not profile.changes_clawback:
        shown["changes"] = {k: v for k, v in event["changes"].items() if k != "clawback"}
    return shown


def show_deferred_payment(dp: dict[str, Any], profile: Profile) -> dict[str, Any]:
    """A deferred payment (ledger.DeferredPayment.to_dict) as shown: zero totals as null, events or none."""
    shown = dict(dp)
    if profile.null_zero_totals:
        shown.update({key: None for key in TOTALS if dp[key] == 0})
    if not profile.events_field:
        del shown["events"]
        return shown
    events = [show_event(e, profile) for e in dp["events"]]
    shown["events"] = events[::-1] if profile.events_order == "newest_first" else events
    return shown


def show_notification(payload: dict[str, Any], profile: Profile) -> dict[str, Any]:
    """A webhook payload with its expanded deferred payment shown."""
    order = payload["data"]["order"]
    shown_order = {**order, "deferred_payment": show_deferred_payment(order["deferred_payment"], profile)}
    return {**payload, "data": {**payload["data"], "order": shown_order}}
