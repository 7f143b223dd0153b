"""The sandbox provider's own records of saved cards and refunds: the provider's side, not ours.

Like SandboxPayment (in payments.models), these stand for what a remote
provider keeps on its servers; Encaisse's books never read them. They live
beside the adapter that plays the provider and are loaded with the payments
app (PaymentsConfig.ready). No card number is kept: a saved card keeps the
last four digits, the expiry and how off-session charges of it behave.
"""

from django.db import models


class SandboxSavedCard(models.Model):
    """A card the payer asked to keep during a sandbox checkout; filled in once the card is entered."""

    token = models.CharField(max_length=40, unique=True)  # what Encaisse stores: sbx_pm_…
    account_code = models.CharField(max_length=50)
    payment_reference = models.CharField(max_length=40, unique=True)  # the checkout that saved it
    brand = models.CharField(max_length=32, blank=True)
    last4 = models.CharField(max_length=4, blank=True)  # empty until the payer entered a card
    exp_month = models.PositiveSmallIntegerField(null=True, blank=True)
    exp_year = models.PositiveSmallIntegerField(null=True, blank=True)
    charge_status = models.CharField(max_length=16, blank=True)  # what an off-session charge of it becomes
    charge_decline_code = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        app_label = "payments"

    def __str__(self) -> str:
        return f"{self.token} {self.brand} {self.last4}"


class SandboxRefund(models.Model):
    """A refund asked of the sandbox, answered once per idempotency key (refused ones too)."""

    reference = models.CharField(max_length=40, unique=True)  # sbx_re_…
    account_code = models.CharField(max_length=50)
    idempotency_key = models.CharField(max_length=120, unique=True)
    attempt_id = models.CharField(max_length=40)
    payment_reference = models.CharField(max_length=40, db_index=True)  # the payment it pays back
    amount_minor = models.BigIntegerField()
    currency = models.CharField(max_length=3)
    status = models.CharField(max_length=16)  # an Outcome value: succeeded or not_processed
    decline_code = models.CharField(max_length=64, blank=True)
    message = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        app_label = "payments"

    def __str__(self) -> str:
        return f"{self.reference} {self.status}"
