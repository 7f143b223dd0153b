"""Which adapter serves which provider account.

PROVIDERS maps a provider code to its adapter class; adapter_for() builds the
adapter of one ProviderAccount from its non-secret options and the secrets
read from the environment (ENCAISSE_PROVIDER_<CODE>_<NAME>, see ProviderAccount).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from django.utils.crypto import salted_hmac

from .base import PaymentProvider
from .sandbox import SandboxProvider

if TYPE_CHECKING:
    from encaisse.payments.models import ProviderAccount

PROVIDERS: dict[str, type] = {
    "sandbox": SandboxProvider,
    # "stripe", "paypal", "payfip", "ogone" join here once their adapters land, each with a builder below.
}


def sandbox_secret(account: ProviderAccount) -> str:
    """The sandbox signs with ENCAISSE_PROVIDER_<CODE>_SECRET, or one derived from SECRET_KEY if unset.

    The derived secret lets a demo run with no configuration; it is still never stored.
    """
    return account.secret("SECRET") or salted_hmac("encaisse.sandbox", account.code).hexdigest()


def _sandbox(account: ProviderAccount) -> Any:
    options = account.settings or {}
    return SandboxProvider(secret=sandbox_secret(account), account_code=account.code,
                           settle_after_seconds=int(options.get("settle_after_seconds", 30)),
                           fee_minor=int(options.get("fee_minor", 0)))


BUILDERS: dict[str, Callable[[ProviderAccount], Any]] = {
    "sandbox": _sandbox,
}


def adapter_for(account: ProviderAccount) -> PaymentProvider:
    """The adapter for this account, configured; a provider with no adapter yet is a configuration error."""
    try:
        build = BUILDERS[account.provider]
    except KeyError:
        raise LookupError(f"no adapter for provider {account.provider!r}") from None
    return build(account)
