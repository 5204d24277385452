"""Identifiers shaped like Hokodo's: ``defpay-`` + 22 characters, numbers like ``P-7WR2-PR0S``."""

from __future__ import annotations

import secrets

# The alphabet of shortuuid, which produces ids such as "defpay-HiTrbSti37vE2nq9aJHgiP".
_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_UPPER = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"


def new_id(prefix: str) -> str:
    return prefix + "-" + "".join(secrets.choice(_ALPHABET) for _ in range(22))


def new_number() -> str:
    def block() -> str:
        return "".join(secrets.choice(_UPPER) for _ in range(4))

    return f"P-{block()}-{block()}"
