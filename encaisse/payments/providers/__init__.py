"""Which adapter serves which provider account.

PROVIDERS maps a provider code to its adapter class; adapter_for() builds the
adapter of one ProviderAccount from its non-secret options and the secrets
read from the environment (ENCAISSE_PROVIDER_<CODE>_<NAME>, see ProviderAccount).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
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

type Secrets = Mapping[str, str]

PROVIDERS: dict[str, type] = {
    SandboxProvider.code: SandboxProvider,
    StripeProvider.code: StripeProvider,
    PayPalProvider.code: PayPalProvider,
    PayFiPProvider.code: PayFiPProvider,
    OgoneProvider.code: OgoneProvider,
}


class MissingSecret(LookupError):
    """A provider account lacks a secret: its environment variable is named so an operator can set it."""


# The secrets each provider's adapter reads from the environment, and whether it refuses to work without
# them. adapter_for() reads exactly these and hands them to the builder; the back office lists them.
PROVIDER_SECRETS: dict[str, tuple[tuple[str, bool], ...]] = {
    "sandbox": (("SECRET", False),),
    "stripe": (("SECRET_KEY", True), ("WEBHOOK_SECRET", True)),
    "paypal": (("CLIENT_ID", True), ("CLIENT_SECRET", True)),
    "payfip": (),
    "ogone": (("SHA_IN", True), ("SHA_OUT", True), ("API_PASSWORD", True)),
}


def _secrets(account: ProviderAccount) -> dict[str, str]:
    """The account's declared secrets, read from the environment; MissingSecret names a required one unset."""
    secrets = {}
    for name, required in PROVIDER_SECRETS.get(account.provider, ()):
        secrets[name] = account.secret(name) or ""
        if required and not secrets[name]:
            raise MissingSecret(f"set {account.secret_variable(name)} for the provider account {account.code!r}")
    return secrets


def _common(account: ProviderAccount) -> dict[str, Any]:
    """Non-secret options every adapter takes: the API address (a fake server in tests) and the timeout."""
    options = account.settings or {}
    common: dict[str, Any] = {"timeout_seconds": float(options.get("timeout_seconds", 10.0))}
    if options.get("api_base"):
        common["api_base"] = options["api_base"]
    return common


def _sandbox(account: ProviderAccount, secrets: Secrets) -> Any:
    # Without ENCAISSE_PROVIDER_<CODE>_SECRET the sandbox signs with a secret derived from SECRET_KEY: a demo
    # runs with no configuration, and the secret is still never stored.
    options = account.settings or {}
    secret = secrets["SECRET"] or salted_hmac("encaisse.sandbox", account.code, algorithm="sha256").hexdigest()
    return SandboxProvider(secret=secret, account_code=account.code,
                           settle_after_seconds=int(options.get("settle_after_seconds", 30)),
                           fee_minor=int(options.get("fee_minor", 0)))


def _stripe(account: ProviderAccount, secrets: Secrets) -> Any:
    return StripeProvider(secret_key=secrets["SECRET_KEY"], webhook_secret=secrets["WEBHOOK_SECRET"],
                          **_common(account))


def _paypal(account: ProviderAccount, secrets: Secrets) -> Any:
    return PayPalProvider(client_id=secrets["CLIENT_ID"], client_secret=secrets["CLIENT_SECRET"],
                          webhook_id=(account.settings or {}).get("webhook_id", ""), **_common(account))


def _payfip(account: ProviderAccount, secrets: Secrets) -> Any:
    options = account.settings or {}
    return PayFiPProvider(client_number=str(options.get("client_number", "")),
                          environment=options.get("environment", "production"), **_common(account))


def _ogone(account: ProviderAccount, secrets: Secrets) -> Any:
    options = account.settings or {}
    return OgoneProvider(pspid=str(options.get("pspid", "")), sha_in=secrets["SHA_IN"], sha_out=secrets["SHA_OUT"],
                         api_user=str(options.get("api_user", "")), api_password=secrets["API_PASSWORD"],
                         hash_algorithm=options.get("hash_algorithm", "SHA-512"), **_common(account))


BUILDERS: dict[str, Callable[[ProviderAccount, Secrets], Any]] = {
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
    return build(account, _secrets(account))
