"""Accounts: people who log in, their refresh tokens, and recent login attempts."""

from piccolo.columns import UUID, ForeignKey, Text, Timestamptz, Varchar
from piccolo.columns.base import OnDelete
from piccolo.table import Table


class User(Table, tablename="users"):
    id = UUID(primary_key=True)
    # Stored lower-cased: one account per address whatever its spelling.
    email = Varchar(length=254, unique=True, index=True, null=False)
    name = Varchar(length=100, null=False)
    password_hash = Text(null=False, secret=True)
    created_at = Timestamptz(null=False)


class Session(Table, tablename="sessions"):
    """One login: its refresh tokens share its id (their `family_id`), its access tokens carry
    it (`sid`). Ending it (log out, a refresh token used twice) ends both at once; deleting the
    user deletes it."""

    id = UUID(primary_key=True)
    user = ForeignKey(references=User, null=False, on_delete=OnDelete.cascade, index=True)
    created_at = Timestamptz(null=False)
    ended_at = Timestamptz(null=True, default=None)


class RefreshToken(Table, tablename="refresh_tokens"):
    """An opaque refresh token, stored as its digest; rotated on every use.

    Tokens minted from one login share a `family_id`: presenting a rotated token again means it
    leaked, and the whole family is revoked.
    """

    id = UUID(primary_key=True)
    user = ForeignKey(references=User, null=False, on_delete=OnDelete.cascade)
    family_id = UUID(null=False, index=True)
    token_digest = Varchar(length=64, unique=True, index=True, null=False, secret=True)
    created_at = Timestamptz(null=False)
    expires_at = Timestamptz(null=False)
    # Set when this token was exchanged for a new one (rotation) or revoked (logout, reuse).
    used_at = Timestamptz(null=True, default=None)
    revoked_at = Timestamptz(null=True, default=None)


class LoginAttempt(Table, tablename="login_attempts"):
    """One logIn call, kept for the throttle's window; a successful login clears its account's.

    The email is kept only as a keyed digest: attempts name addresses that may have no account.
    """

    id = UUID(primary_key=True)
    # Indexed together with attempted_at (see the migrations): counts are per who and window.
    email_digest = Varchar(length=64, null=False)
    # The address, its IPv6 /64, or "unknown" (see throttle.address_bucket).
    client_ip = Varchar(length=45, null=True, default=None)
    attempted_at = Timestamptz(null=False, index=True)
