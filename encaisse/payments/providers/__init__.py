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
from .ogone import OgoneProvider
from .payfip import PayFiPProvider
from .paypal import PayPalProvider
from .sandbox import SandboxProvider
from .stripe import StripeProvider

if TYPE_CHECKING:
    from encaisse.payments.models import ProviderAccount

PROVIDERS: dict[str, type] = {
    SandboxProvider.code: SandboxProvider,
    StripeProvider.code: StripeProvider,
    PayPalProvider.code: PayPalProvider,
    PayFiPProvider.code: PayFiPProvider,
    OgoneProvider.code: OgoneProvider,
}


class MissingSecret(LookupError):
    """A provider account lacks a secret: its environment variable is named so an operator can set it."""


def _required(account: ProviderAccount, name: str) -> str:
    value = account.secret(name)
    if not value:
        raise MissingSecret(f"set {account.secret_variable(name)} for the provider account {account.code!r}")
    return value


def _common(account: ProviderAccount) -> dict[str, Any]:
    """Non-secret options every adapter takes: the API address (a fake server in tests) and the timeout."""
    options = account.settings or {}
    common: dict[str, Any] = {"timeout_seconds": float(options.get("timeout_seconds", 10.0))}
    if options.get("api_base"):
        common["api_base"] = options["api_base"]
    return common


def sandbox_secret(account: ProviderAccount) -> str:
    """The sandbox signs with ENCAISSE_PROVIDER_<CODE>_SECRET, or one derived from SECRET_KEY if unset.

    The derived secret lets a demo run with no configuration; it is still never stored.
    """
    return account.secret("SECRET") or salted_hmac("encaisse.sandbox", account.code, algorithm="sha256").hexdigest()


def _sandbox(account: ProviderAccount) -> Any:
    options = account.settings or {}
    return SandboxProvider(secret=sandbox_secret(account), account_code=account.code,
                           settle_after_seconds=int(options.get("settle_after_seconds", 30)),
                           fee_minor=int(options.get("fee_minor", 0)))


def _stripe(account: ProviderAccount) -> Any:
    return StripeProvider(secret_key=_required(account, "SECRET_KEY"),
                          webhook_secret=_required(account, "WEBHOOK_SECRET"), **_common(account))


def _paypal(account: ProviderAccount) -> Any:
    return PayPalProvider(client_id=_required(account, "CLIENT_ID"), client_secret=_required(account, "CLIENT_SECRET"),
                          webhook_id=(account.settings or {}).get("webhook_id", ""), **_common(account))


def _payfip(account: ProviderAccount) -> Any:
    options = account.settings or {}
    return PayFiPProvider(client_number=str(options.get("client_number", "")),
                          environment=options.get("environment", "production"), **_common(account))


def _ogone(account: ProviderAccount) -> Any:
    options = account.settings or {}
    return OgoneProvider(pspid=str(options.get("pspid", "")), sha_in=_required(account, "SHA_IN"),
                         sha_out=_required(account, "SHA_OUT"), api_user=str(options.get("api_user", "")),
                         api_password=_required(account, "API_PASSWORD"),
                         hash_algorithm=options.get("hash_algorithm", "SHA-512"), **_common(account))


BUILDERS: dict[str, Callable[[ProviderAccount], Any]] = {
    "sandbox": _sandbox,
    "stripe": _stripe,
    "paypal": _paypal,
    "payfip": _payfip,
    "ogone": _ogone,
}


def adapter_for(account: ProviderAccount) -> PaymentProvider:
    """The adapter for this account, configured; a provider with no adapter yet is a configuration error."""
    try:
        build = BUILDERS[account.provider]
    except KeyError:
        raise LookupError(f"no adapter for provider {account.provider!r}") from None
    return build(account)
