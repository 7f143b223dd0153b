"""Payments received: offline ones (cheque, cash, transfer, card terminal) for now.

A payment is a fact with its own ledger entry: the money account (cheques to
deposit, cash, bank, provider clearing) is debited and the customer credited
— on 411 for what settles open items, on 419 (advance) for any excess. It is
never edited: a mistake is corrected by a reversal.
"""

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
