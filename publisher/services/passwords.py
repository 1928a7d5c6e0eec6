"""Password hashes (argon2id) and their checks, for the center's staff and a node's operators."""

from __future__ import annotations

import functools
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

__all__ = ["hash_password", "password_matches", "rehash_if_outdated"]

_hasher = PasswordHasher()  # argon2id with the library's current recommended parameters


@functools.cache
def _unknown_user_hash() -> str:
    # Made at the first check rather than at import: every process that imports
    # this (workers, command-line tools) would otherwise pay for one hash it never uses.
    return _hasher.hash(secrets.token_urlsafe(16))


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def password_matches(stored_hash: str | None, password: str) -> bool:
    """Whether ``password`` is the one ``stored_hash`` was made from.

    ``None`` stands for a user who does not exist: checked against a hash all
    the same, so that a wrong username takes as long as a wrong password and
    names cannot be probed by timing.
    """
    try:
        matched = _hasher.verify(stored_hash or _unknown_user_hash(), password)
    except (VerificationError, InvalidHashError):
        return False
    return bool(matched) and stored_hash is not None


def rehash_if_outdated(stored_hash: str, password: str) -> str:
    """``stored_hash``, or a new hash of ``password`` when the parameters have moved on."""
    return hash_password(password) if _hasher.check_needs_rehash(stored_hash) else stored_hash
