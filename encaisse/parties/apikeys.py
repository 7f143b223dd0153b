"""Organisation API keys: made once, shown once, checked by hash."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import Any

from django.db import transaction
from django.utils import timezone

from encaisse.core.audit import record_event

from .models import ApiKey, Organisation


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


@transaction.atomic
def create_api_key(*, organisation: Organisation, name: str, by: Any = None) -> tuple[ApiKey, str]:
    """Make a key and return it with its secret ("enc_<prefix>_<random>"), which is never stored in clear."""
    prefix = secrets.token_hex(4)
    secret = f"enc_{prefix}_{secrets.token_urlsafe(32)}"
    key = ApiKey.objects.create(organisation=organisation, name=name, prefix=prefix, key_hash=_digest(secret),
                                created_by=by if getattr(by, "is_authenticated", False) else None)
    record_event(key, "created", by=by)
    return key, secret


def authenticate_api_key(secret: str) -> ApiKey | None:
    """Return the live key for this secret, or None; compares hashes in constant time."""
    parts = secret.split("_", 2)
    if len(parts) != 3 or parts[0] != "enc":
        return None
    key = ApiKey.objects.select_related("organisation").filter(prefix=parts[1], revoked_at__isnull=True).first()
    if key is None or not hmac.compare_digest(key.key_hash, _digest(secret)):
        return None
    ApiKey.objects.filter(pk=key.pk).update(last_used_at=timezone.now())
    return key


@transaction.atomic
def revoke_api_key(*, key_id: int, by: Any = None) -> ApiKey:
    key = ApiKey.objects.select_for_update().get(pk=key_id)
    if key.revoked_at is None:
        key.revoked_at = timezone.now()
        key.save(update_fields=["revoked_at"])
        record_event(key, "revoked", by=by)
    return key
