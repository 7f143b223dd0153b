"""Payments received: offline ones (cheque, cash, transfer, card terminal) for now.

A payment is a fact with its own ledger entry: the money account (cheques to
deposit, cash, bank, provider clearing) is debited and the customer credited
— on 411 for what settles open items, on 419 (advance) for any excess. It is
never edited: a mistake is corrected by a reversal.
"""

import uuid
from datetime import date

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from encaisse.core.money import Money
from encaisse.ledger.models import Entry
from encaisse.parties.models import Customer, Organisation


class OfflineMethod(models.TextChoices):
    CHEQUE = "cheque", _("Cheque")
    CASH = "cash", _("Cash payment")
    TRANSFER = "transfer", _("Bank transfer")
    TERMINAL = "terminal", _("Card terminal on site")


class Payment(models.Model):
    organisation = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="payments")
    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="payments",
                                 verbose_name=_("customer"))
    method = models.CharField(_("method"), max_length=16, choices=OfflineMethod)
    amount_minor = models.BigIntegerField(_("amount"))
    currency = models.CharField(max_length=3)
    received_on = models.DateField(_("received on"))
    reference = models.CharField(_("reference"), max_length=140, blank=True,
                                 help_text=_("Transfer reference, terminal ticket…"))
    cheque_bank = models.CharField(_("cheque bank"), max_length=64, blank=True)
    cheque_number = models.CharField(_("cheque number"), max_length=32, blank=True)
    entry = models.OneToOneField(Entry, on_delete=models.PROTECT, related_name="payment", editable=False)
    idempotency_key = models.CharField(max_length=120, editable=False)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
                                   related_name="+", editable=False)
    created_at = models.DateTimeField(_("recorded at"), auto_now_add=True)

    class Meta:
        verbose_name = _("payment")
        verbose_name_plural = _("payments")
        ordering = ["-received_on", "-pk"]
        constraints = [
            models.UniqueConstraint(fields=["organisation", "idempotency_key"], name="payment_key_unique"),
            models.CheckConstraint(condition=Q(amount_minor__gt=0), name="payment_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.get_method_display()} {self.amount} — {self.customer}"

    @property
    def amount(self) -> Money:
        return Money(self.amount_minor, self.currency)


# --- Online payments -------------------------------------------------------------------------------------------


class ProviderCode(models.TextChoices):
    SANDBOX = "sandbox", _("Sandbox (test cards, no real money)")
    STRIPE = "stripe", "Stripe"
    PAYPAL = "paypal", "PayPal"
    PAYFIP = "payfip", "PayFiP"
    OGONE = "ogone", "Ogone / Worldline"


def masked(secret: str | None) -> str:
    """Show a secret the way people may see it: only its last four characters."""
    if not secret:
        return ""
    return "•" * 8 + secret[-4:]


class ProviderAccount(models.Model):
    """One way an organisation (or one of its régies) takes money online.

    Secrets are never stored: they are read from environment variables named
    ENCAISSE_PROVIDER_<CODE>_<NAME> (code upper-cased, dashes as underscores),
    e.g. ENCAISSE_PROVIDER_CANTINE_STRIPE_SECRET_KEY for the secret key of the
    account `cantine-stripe`. `settings` holds non-secret options only.
    """

    organisation = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="provider_accounts")
    regie_code = models.CharField(_("régie"), max_length=32, blank=True,
                                  help_text=_("Code of the régie this account collects for; empty for all."))
    provider = models.CharField(_("provider"), max_length=16, choices=ProviderCode)
    code = models.SlugField(_("code"), max_length=50, unique=True,
                            help_text=_("Names the webhook address /hooks/<code>/ and the secrets' variables."))
    name = models.CharField(_("name"), max_length=120)
    active = models.BooleanField(_("active"), default=True)
    settings = models.JSONField(_("options"), default=dict, blank=True)

    class Meta:
        verbose_name = _("payment provider account")
        verbose_name_plural = _("payment provider accounts")
        ordering = ["organisation", "name"]

    def __str__(self) -> str:
        return self.name

    def secret_variable(self, name: str) -> str:
        return f"ENCAISSE_PROVIDER_{self.code.upper().replace('-', '_')}_{name.upper()}"

    def secret(self, name: str) -> str | None:
        """Read one secret from the environment; None when it is not set."""
        import os

        return os.environ.get(self.secret_variable(name)) or None

    def masked_secret(self, name: str) -> str:
        return masked(self.secret(name))


class AttemptKind(models.TextChoices):
    CHECKOUT = "checkout", _("Hosted checkout")
    CHARGE = "charge", _("Charge of a saved method")
    SETUP = "setup", _("Saving a method without paying")
    REFUND = "refund", _("Refund")


class AttemptStatus(models.TextChoices):
    """The provider's outcome vocabulary plus our two states before an answer."""

    QUEUED = "queued", _("Queued")
    SENDING = "sending", _("Sending")
    PENDING = "pending", _("Being confirmed")
    SUCCEEDED = "succeeded", _("Succeeded")
    DECLINED = "declined", _("Declined")
    NOT_PROCESSED = "not_processed", _("Not processed")
    UNKNOWN = "unknown", _("Outcome unknown")


class PaymentAttempt(models.Model):
    """One request to a provider, recorded with its idempotency key before it is sent."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organisation = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="payment_attempts")
    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="payment_attempts",
                                 verbose_name=_("customer"))
    provider_account = models.ForeignKey(ProviderAccount, on_delete=models.PROTECT, related_name="attempts",
                                         verbose_name=_("provider account"))
    kind = models.CharField(_("kind"), max_length=16, choices=AttemptKind)
    amount_minor = models.BigIntegerField(_("amount"))
    currency = models.CharField(max_length=3)
    idempotency_key = models.CharField(max_length=120, unique=True, editable=False)
    status = models.CharField(_("status"), max_length=16, choices=AttemptStatus, default=AttemptStatus.QUEUED)
    provider_reference = models.CharField(_("provider reference"), max_length=255, blank=True, db_index=True)
    decline_code = models.CharField(_("decline code"), max_length=64, blank=True)
    message = models.TextField(_("message"), blank=True)
    request = models.JSONField(default=dict, blank=True)  # what we sent, never card data
    response = models.JSONField(default=dict, blank=True)  # what came back, never card data
    line_ids = models.JSONField(default=list, blank=True)  # the receivable lines it pays, for allocation
    saved_method = models.ForeignKey("SavedMethod", null=True, blank=True, on_delete=models.PROTECT,
                                     related_name="attempts", verbose_name=_("saved method"))  # CHARGE
    refund_of = models.ForeignKey("self", null=True, blank=True, on_delete=models.PROTECT, related_name="refunds",
                                  verbose_name=_("refund of"))  # REFUND: the succeeded attempt it pays back
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
                                   related_name="+", editable=False)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    answered_at = models.DateTimeField(_("answered at"), null=True, blank=True)
    settled_entry = models.OneToOneField(Entry, null=True, blank=True, on_delete=models.PROTECT,
                                         related_name="payment_attempt", editable=False)

    class Meta:
        verbose_name = _("online payment attempt")
        verbose_name_plural = _("online payment attempts")
        ordering = ["-created_at"]
        constraints = [
            # A SETUP attempt saves a method without paying: its amount is zero; everything else moves money.
            models.CheckConstraint(condition=Q(amount_minor__gt=0) | Q(kind="setup", amount_minor=0),
                                   name="attempt_positive"),
            models.CheckConstraint(condition=Q(kind="refund", refund_of__isnull=False) | ~Q(kind="refund"),
                                   name="attempt_refund_names_payment"),
            models.CheckConstraint(condition=Q(kind="charge", saved_method__isnull=False) | ~Q(kind="charge"),
                                   name="attempt_charge_names_method"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.amount} — {self.get_status_display()}"

    @property
    def amount(self) -> Money:
        return Money(self.amount_minor, self.currency)


class SavedMethodStatus(models.TextChoices):
    ACTIVE = "active", _("Active")
    REVOKED = "revoked", _("Revoked")
    EXPIRED = "expired", _("Expired")


class SavedMethodKind(models.TextChoices):
    CARD = "card", _("Card")
    PAYPAL = "paypal", _("PayPal account")


class SavedMethod(models.Model):
    """A payment method a customer agreed to keep for automatic payment: the provider's token, never the card.

    The consent (the exact text shown, when, from which address) is kept with
    it: it is what allows charging the customer later without them being there.
    Revoking never deletes: the row stays, with when and why, for the record.
    """

    organisation = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="saved_methods")
    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="saved_methods",
                                 verbose_name=_("customer"))
    provider_account = models.ForeignKey(ProviderAccount, on_delete=models.PROTECT, related_name="saved_methods",
                                         verbose_name=_("provider account"))
    kind = models.CharField(_("kind"), max_length=16, choices=SavedMethodKind, default=SavedMethodKind.CARD)
    token = models.CharField(_("provider token"), max_length=255)
    customer_token = models.CharField(_("provider customer id"), max_length=255, blank=True)
    brand = models.CharField(_("brand"), max_length=32, blank=True)
    last4 = models.CharField(_("last four digits"), max_length=4, blank=True)
    exp_month = models.PositiveSmallIntegerField(_("expiry month"), null=True, blank=True)
    exp_year = models.PositiveSmallIntegerField(_("expiry year"), null=True, blank=True)
    status = models.CharField(_("status"), max_length=16, choices=SavedMethodStatus,
                              default=SavedMethodStatus.ACTIVE)
    is_default = models.BooleanField(_("default for automatic payment"), default=False)
    consent_text = models.TextField(_("consent text"))
    consent_at = models.DateTimeField(_("consent given at"))
    consent_ip = models.GenericIPAddressField(_("consent given from"), null=True, blank=True)
    source_attempt = models.ForeignKey(PaymentAttempt, null=True, blank=True, on_delete=models.PROTECT,
                                       related_name="+", verbose_name=_("saved while paying"))
    created_at = models.DateTimeField(_("saved at"), auto_now_add=True)
    revoked_at = models.DateTimeField(_("revoked at"), null=True, blank=True)
    revoked_reason = models.CharField(_("reason for revoking"), max_length=200, blank=True)

    class Meta:
        verbose_name = _("saved payment method")
        verbose_name_plural = _("saved payment methods")
        ordering = ["customer", "-is_default", "-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["provider_account", "token"], name="saved_method_token_unique"),
            models.UniqueConstraint(fields=["customer"], condition=Q(is_default=True, status="active"),
                                    name="saved_method_one_default"),
        ]

    def past_expiry(self, today: date) -> bool:
        """A card is valid through its expiry month; the daily expire_methods task may not have marked it yet."""
        return bool(self.exp_year and self.exp_month and (self.exp_year, self.exp_month) < (today.year, today.month))

    def __str__(self) -> str:
        if self.last4:
            return f"{self.brand or self.get_kind_display()} •••• {self.last4}"
        return f"{self.get_kind_display()} ({self.provider_account})"


class AdvanceRefund(models.Model):
    """Money paid back to a customer out of their advance (419) by transfer, cheque or cash: a fact with its entry.

    Refunds through a provider are PaymentAttempts of kind REFUND instead.
    """

    organisation = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="advance_refunds")
    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="advance_refunds",
                                 verbose_name=_("customer"))
    method = models.CharField(_("method"), max_length=16, choices=OfflineMethod)
    amount_minor = models.BigIntegerField(_("amount"))
    currency = models.CharField(max_length=3)
    paid_on = models.DateField(_("paid on"))
    reference = models.CharField(_("reference"), max_length=140, blank=True)
    reason = models.CharField(_("reason"), max_length=200, blank=True)
    entry = models.OneToOneField(Entry, on_delete=models.PROTECT, related_name="advance_refund", editable=False)
    idempotency_key = models.CharField(max_length=120, editable=False)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
                                   related_name="+", editable=False)
    created_at = models.DateTimeField(_("recorded at"), auto_now_add=True)

    class Meta:
        verbose_name = _("refund of an advance")
        verbose_name_plural = _("refunds of advances")
        ordering = ["-paid_on", "-pk"]
        constraints = [
            models.UniqueConstraint(fields=["organisation", "idempotency_key"], name="advance_refund_key_unique"),
            models.CheckConstraint(condition=Q(amount_minor__gt=0), name="advance_refund_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.get_method_display()} {self.amount} — {self.customer}"

    @property
    def amount(self) -> Money:
        return Money(self.amount_minor, self.currency)


class InboundEvent(models.Model):
    """A verified provider notification, stored once per (account, event id) so a duplicate does nothing."""

    provider_account = models.ForeignKey(ProviderAccount, on_delete=models.PROTECT, related_name="events")
    event_id = models.CharField(max_length=255)
    payload = models.JSONField(default=dict)
    received_at = models.DateTimeField(auto_now_add=True)
    processed_at = models.DateTimeField(null=True, blank=True)
    outcome = models.CharField(max_length=16, blank=True)
    attempt = models.ForeignKey(PaymentAttempt, null=True, blank=True, on_delete=models.PROTECT,
                                related_name="events")

    class Meta:
        verbose_name = _("provider notification")
        verbose_name_plural = _("provider notifications")
        constraints = [models.UniqueConstraint(fields=["provider_account", "event_id"], name="inbound_event_once")]

    def __str__(self) -> str:
        return f"{self.provider_account} {self.event_id}"


class SandboxPayment(models.Model):
    """The sandbox provider's own record of a payment: the provider's side, not ours.

    The sandbox plays a remote provider inside Encaisse, so its state needs a
    home that survives between requests and processes; a table is simpler to
    inspect than the cache. Encaisse's books never read it: they learn about it
    only through signed notifications and fetch(), as with a real provider.
    No card number is kept, only the scenario its test card chose.
    """

    reference = models.CharField(max_length=40, unique=True)
    account_code = models.CharField(max_length=50)
    idempotency_key = models.CharField(max_length=120, unique=True)
    attempt_id = models.CharField(max_length=40)
    amount_minor = models.BigIntegerField()
    currency = models.CharField(max_length=3)
    description = models.CharField(max_length=255, blank=True)
    return_url = models.CharField(max_length=500)
    notify_url = models.CharField(max_length=500, blank=True)
    status = models.CharField(max_length=16, default="open")  # open, authenticating, then an Outcome value
    final_status = models.CharField(max_length=16, blank=True)  # what a pending payment becomes
    decline_code = models.CharField(max_length=64, blank=True)
    settles_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.reference} {self.status}"
