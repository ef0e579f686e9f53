"""Password hashing (Argon2id) and access-token secrets for the auth store.

Passwords are low-entropy and chosen by people, so they get a deliberately slow, memory-hard
hash: Argon2id with argon2-cffi's default parameters (RFC 9106's second recommended profile).
A token's secret is 256 random bits, which no guessing can reach, so a fast SHA-256 of it is
enough to store; that keeps a token check to one indexed lookup, no slow hash per request.
"""

from __future__ import annotations

import hashlib
import secrets

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError

from runlab.errors import InvalidParameter

__all__ = [
    "TOKEN_SCHEME",
    "PasswordHashing",
    "looks_like_token",
    "new_token_secret",
    "token_hash",
    "token_prefix",
]

#: Every token secret starts with this, so a leaked one is recognisable (secret scanners, logs).
TOKEN_SCHEME = "rlt_"
#: The scheme and 8 characters of the secret (48 of its 256 bits): enough to tell tokens apart
#: in a list, too few to help guess the rest.
_PREFIX_LENGTH = len(TOKEN_SCHEME) + 8
#: A token_urlsafe(32) secret is 43 characters; anything much longer is not one of ours.
_SECRET_MAX = 128


def new_token_secret() -> str:
    """A fresh token secret: ``rlt_`` and 32 random bytes in URL-safe base64."""
    return TOKEN_SCHEME + secrets.token_urlsafe(32)


def token_hash(secret: str) -> str:
    """What the store keeps of a token: the secret's SHA-256, as 64 hex digits."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def token_prefix(secret: str) -> str:
    """The secret's first characters, shown in token lists."""
    return secret[:_PREFIX_LENGTH]


def looks_like_token(secret: object) -> bool:
    """Whether ``secret`` could be one of our token secrets (cheap check before a lookup)."""
    return (
        isinstance(secret, str)
        and secret.startswith(TOKEN_SCHEME)
        and len(TOKEN_SCHEME) < len(secret) <= _SECRET_MAX
    )


class PasswordHashing:
    """Hashes and verifies passwords with one Argon2id parameter set.

    ``hasher`` chooses the parameters (argon2-cffi's defaults when None); it must use Argon2id.
    Hashes made with other parameters still verify, and :meth:`needs_rehash` says when one
    should be replaced by a hash with the current parameters.
    """

    def __init__(self, hasher: PasswordHasher | None = None) -> None:
        hasher = hasher if hasher is not None else PasswordHasher()
        if hasher.type is not Type.ID:
            raise InvalidParameter(
                f"Passwords must be hashed with Argon2id, but the password hasher uses "
                f"{hasher.type.name}; create it with argon2.PasswordHasher(type=argon2.Type.ID)."
            )
        self._hasher = hasher
        self._dummy_hash: str | None = None

    def prepare(self) -> None:
        """Make the hash :meth:`verify_nothing` checks against, if not made yet.

        Called before every sign-in, whether the user exists or not, so that the one-time cost
        of making it does not single out the first sign-in of an unknown name.
        """
        if self._dummy_hash is None:
            self._dummy_hash = self._hasher.hash(secrets.token_urlsafe(16))

    def hash(self, password: str) -> str:
        """A new salted Argon2id hash of ``password``."""
        return self._hasher.hash(password)

    def verify(self, stored_hash: str, password: str) -> bool:
        """Whether ``password`` matches ``stored_hash``; False for a mismatch or a broken hash.

        argon2-cffi compares the computed and stored digests in constant time.
        """
        try:
            return self._hasher.verify(stored_hash, password)
        except (VerificationError, InvalidHashError):
            return False

    def needs_rehash(self, stored_hash: str) -> bool:
        """Whether ``stored_hash`` was made with other parameters than the current ones."""
        try:
            return self._hasher.check_needs_rehash(stored_hash)
        except InvalidHashError:
            return False

    def verify_nothing(self, password: str) -> None:
        """Spend the time of one verification, for a user who does not exist.

        Without it, a sign-in for an unknown name would answer at once and one for a real
        name only after a hash: the difference would tell anyone which names exist.
        """
        self.prepare()
        assert self._dummy_hash is not None
        # Made with the current parameters, so checking it costs what checking a real one does.
        self.verify(self._dummy_hash, password)
