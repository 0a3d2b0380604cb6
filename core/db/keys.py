"""API keys: create, revoke, list, verify. Only a SHA-256 hash of a key is ever stored.

A key reads ``adc_<prefix>_<secret>``: ``prefix`` (8 hex characters) names the key in
listings, logs and ``keys revoke``; ``secret`` is 256 random bits. The plaintext is
returned once, by :func:`create_key`, and never again.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.db.engine import Database
from core.db.models import ApiKey, Tenant, utcnow
from core.settings import Settings, get_settings

__all__ = [
    "KEY_SCHEME",
    "KeyInfo",
    "KeyNotFound",
    "create_key",
    "ensure_first_key",
    "generate_key",
    "hash_key",
    "key_prefix",
    "parse_prefix",
    "list_keys",
    "lookup_key",
    "revoke_key",
]

KEY_SCHEME = "adc"
PREFIX_BYTES = 4  # 8 hex characters
SECRET_BYTES = 32
MAX_KEY_LENGTH = 128


class KeyNotFound(LookupError):
    """No key with this prefix (in this tenant)."""


@dataclass(frozen=True, slots=True)
class KeyInfo:
    """What the gateway needs to know about a key; never holds the secret."""

    id: int
    tenant_id: str
    name: str
    prefix: str
    rate_limit_per_min: int
    created_at: datetime
    revoked_at: datetime | None
    last_used_at: datetime | None

    @property
    def revoked(self) -> bool:
        return self.revoked_at is not None

    @classmethod
    def of(cls, row: ApiKey) -> KeyInfo:
        return cls(
            id=row.id,
            tenant_id=row.tenant_id,
            name=row.name,
            prefix=row.prefix,
            rate_limit_per_min=row.rate_limit_per_min,
            created_at=row.created_at,
            revoked_at=row.revoked_at,
            last_used_at=row.last_used_at,
        )


def hash_key(key: str) -> str:
    """Hex SHA-256 of the whole key (what ``api_keys.key_hash`` holds)."""
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


def generate_key() -> tuple[str, str]:
    """A fresh ``(key, prefix)``."""
    prefix = secrets.token_hex(PREFIX_BYTES)
    return f"{KEY_SCHEME}_{prefix}_{secrets.token_urlsafe(SECRET_BYTES)}", prefix


def key_prefix(key: str) -> str | None:
    """The prefix of a well-formed key, else None (cheap check before any lookup)."""
    if len(key) > MAX_KEY_LENGTH:
        return None
    parts = key.split("_", 2)
    if len(parts) != 3 or parts[0] != KEY_SCHEME or not parts[2]:
        return None
    prefix = parts[1]
    if len(prefix) != 2 * PREFIX_BYTES or any(c not in "0123456789abcdef" for c in prefix):
        return None
    return prefix


def parse_prefix(text: str) -> str:
    """The prefix in what a user typed: ``1a2b3c4d``, ``adc_1a2b3c4d`` or the whole key.

    Raises ``ValueError`` (with what is expected) for anything else.
    """
    text = text.strip()
    whole = key_prefix(text)
    if whole is not None:
        return whole
    bare = text.removeprefix(f"{KEY_SCHEME}_").rstrip("_")
    if len(bare) == 2 * PREFIX_BYTES and all(c in "0123456789abcdef" for c in bare):
        return bare
    raise ValueError(
        f"not a key prefix: {text[:24]!r} (expected {2 * PREFIX_BYTES} hex characters, "
        f"optionally after '{KEY_SCHEME}_')"
    )


def _ensure_tenant(session: Session, tenant_id: str) -> None:
    if session.get(Tenant, tenant_id) is None:
        session.add(Tenant(tenant_id=tenant_id, name=tenant_id))
        session.flush()


def add_key(
    session: Session, *, tenant_id: str, name: str, rate_limit_per_min: int | None = None
) -> tuple[str, KeyInfo]:
    """Create a key in ``session``'s transaction; returns the plaintext (once) and its info.

    ``rate_limit_per_min``: None takes ``api.default_rate_limit_per_min`` of the settings.
    """
    if rate_limit_per_min is not None and rate_limit_per_min < 0:
        raise ValueError("rate_limit_per_min must be >= 0 (0: no limit)")
    if not name or len(name) > 200:
        raise ValueError("name must be 1..200 characters")
    _ensure_tenant(session, tenant_id)
    while True:
        key, prefix = generate_key()
        if session.scalar(select(ApiKey.id).where(ApiKey.prefix == prefix)) is None:
            break
    row = ApiKey(
        tenant_id=tenant_id,
        name=name,
        prefix=prefix,
        key_hash=hash_key(key),
        rate_limit_per_min=(
            get_settings().api.default_rate_limit_per_min
            if rate_limit_per_min is None
            else rate_limit_per_min
        ),
        created_at=utcnow(),
    )
    session.add(row)
    session.flush()
    return key, KeyInfo.of(row)


def create_key(
    db: Database, *, tenant_id: str, name: str, rate_limit_per_min: int | None = None
) -> str:
    """Create a key for ``tenant_id`` and return its plaintext (shown once, stored hashed)."""
    with db.session() as session:
        key, _ = add_key(
            session, tenant_id=tenant_id, name=name, rate_limit_per_min=rate_limit_per_min
        )
    return key


def revoke_key(db: Database, prefix: str, *, tenant_id: str | None = None) -> KeyInfo:
    """Revoke the key ``prefix`` (idempotent: an already revoked key keeps its time)."""
    with db.session() as session:
        query = select(ApiKey).where(ApiKey.prefix == prefix)
        if tenant_id is not None:
            query = query.where(ApiKey.tenant_id == tenant_id)
        row = session.scalar(query)
        if row is None:
            raise KeyNotFound(prefix)
        if row.revoked_at is None:
            row.revoked_at = utcnow()
            session.flush()
        return KeyInfo.of(row)


def list_keys(
    db: Database, *, tenant_id: str | None = None, include_revoked: bool = True
) -> list[KeyInfo]:
    """Keys, oldest first (all tenants unless ``tenant_id``)."""
    with db.session() as session:
        query = select(ApiKey).order_by(ApiKey.created_at, ApiKey.id)
        if tenant_id is not None:
            query = query.where(ApiKey.tenant_id == tenant_id)
        if not include_revoked:
            query = query.where(ApiKey.revoked_at.is_(None))
        return [KeyInfo.of(row) for row in session.scalars(query)]


def lookup_key(db: Database, key: str, *, touch: bool = True) -> KeyInfo | None:
    """The key's info (revoked ones included) or None; ``touch`` records ``last_used_at``."""
    prefix = key_prefix(key)
    if prefix is None:
        return None
    with db.session() as session:
        row = session.scalar(select(ApiKey).where(ApiKey.key_hash == hash_key(key)))
        if row is None or row.prefix != prefix:
            return None
        if touch and row.revoked_at is None:
            row.last_used_at = utcnow()
            session.flush()
        return KeyInfo.of(row)


def ensure_first_key(db: Database, settings: Settings) -> str | None:
    """A first key for the default tenant when it has never had one; its plaintext, once.

    Returns None when the tenant already has keys (revoked ones count: revoking every
    key is a decision this function does not undo).
    """
    tenant_id = settings.tenant_id
    with db.session() as session:
        count = session.scalar(
            select(func.count()).select_from(ApiKey).where(ApiKey.tenant_id == tenant_id)
        )
        if count:
            return None
        key, _ = add_key(
            session,
            tenant_id=tenant_id,
            name="first key",
            rate_limit_per_min=settings.api.default_rate_limit_per_min,
        )
    return key
