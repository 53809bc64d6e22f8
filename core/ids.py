"""Unguessable public identifiers (order codes, referral codes).

Why: order codes travel in invoice payloads and callback data, so they must
not be sequential or guessable; Crockford-style base32 keeps them short and
unambiguous when read aloud or typed.
"""

from __future__ import annotations

import secrets

__all__ = ["new_code"]

_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"


def new_code(length: int = 12) -> str:
    return "".join(secrets.choice(_ALPHABET) for _ in range(length))
