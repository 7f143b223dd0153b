"""Régies, invoice types, series, products, invoices and their lines.

Posted invoices are never edited or deleted: the model refuses, and on
PostgreSQL a trigger refuses too. "Paid" is not stored: it is read from the
ledger (the invoice's receivable line minus what is settled against it).
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from encaisse.core.errors import ImmutableRecord
from encaisse.core.money import Money
from encaisse.ledger.models import Account, Entry, EntryLine, Journal
from encaisse.parties.models import Customer, Organisation


class PaymentMethod(models.TextChoices):
    CARD = "card", _("Card (online)")
    SEPA_DEBIT = "sepa_debit", _("SEPA direct debit")
    TRANSFER = "transfer", _("Bank transfer")
    CHEQUE = "cheque", _("Cheque")
    CASH = "cash", pgettext_lazy("payment method", "Cash")
    TERMINAL = "terminal", _("Card terminal on site")
    PAYPAL = "paypal", _("PayPal")
    PAYFIP = "payfip", _("PayFiP")


def _validate_methods(value: Any) -> None:
    allowed = set(PaymentMethod.values)
    if not isinstance(value, list) or any(v not in allowed for v in value):
        raise ValidationError(_("Choose among: %(choices)s."), params={"choices": ", ".join(sorted(allowed))})


class Regie(models.Model):
    """A collection office: where the money of some invoice types is received and booked."""

    organisation = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="regies")
    code = models.CharField(_("code"), max_length=32)
    name = models.CharField(_("name"), max_length=120)
    journal = models.ForeignKey(Journal, on_delete=models.PROTECT, verbose_name=_("journal"), related_name="+")
    bank_account = models.ForeignKey(
        Account, on_delete=models.PROTECT, verbose_name=_("receiving bank account"), related_name="+"
    )
    allowed_methods = models.JSONField(
        _("allowed payment methods"), default=list, blank=True, validators=[_validate_methods]
    )

    class Meta:
        verbose_name = _("régie (collection office)")
        verbose_name_plural = _("régies (collection offices)")
        constraints = [models.UniqueConstraint(fields=["organisation", "code"], name="regie_code_unique")]

    def __str__(self) -> str:
        return self.name


class InvoiceSeries(models.Model):
    organisation = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="series")
    code = models.CharField(_("code"), max_length=32)
    prefix = models.CharField(_("prefix"), max_length=16)
    yearly_reset = models.BooleanField(_("restart every year"), default=True)
    padding = models.PositiveSmallIntegerField(_("digits"), default=5)

    class Meta:
        verbose_name = _("number series")
        verbose_name_plural = _("number series")
        constraints = [
            models.UniqueConstraint(fields=["organisation", "code"], name="series_code_unique"),
            models.UniqueConstraint(fields=["organisation", "prefix"], name="series_prefix_unique"),
        ]

    def __str__(self) -> str:
        return self.prefix

    def format_number(self, *, year: int, value: int) -> str:
        if self.yearly_reset:
            return f"{self.prefix}-{year}-{value:0{self.padding}d}"
        return f"{self.prefix}-{value:0{self.padding}d}"

    def counter_year(self, year: int) -> int:
        return year if self.yearly_reset else 0


class SeriesCounter(models.Model):
    """The last number taken in a series and year; locked by the posting that takes the next."""

    series = models.ForeignKey(InvoiceSeries, on_delete=models.PROTECT, related_name="counters")
    year = models.PositiveIntegerField()
    last_value = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["series", "year"], name="series_counter_unique")]

    def __str__(self) -> str:
        return f"{self.series} {self.year}: {self.last_value}"


class VatRate(models.Model):
    organisation = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="vat_rates")
    code = models.CharField(_("code"), max_length=16)
    name = models.CharField(_("name"), max_length=64)
    # A percentage, not money: DecimalField is safe here (5 digits round-trip through SQLite's REAL).
    percent = models.DecimalField(_("rate (%)"), max_digits=5, decimal_places=2)
    account = models.ForeignKey(Account, on_delete=models.PROTECT, verbose_name=_("VAT account"), related_name="+")

    class Meta:
        verbose_name = _("VAT rate")
        verbose_name_plural = _("VAT rates")
        constraints = [models.UniqueConstraint(fields=["organisation", "code"], name="vat_code_unique")]

    def __str__(self) -> str:
        return self.name


# Quantities and unit prices are decimals, not money: at most 15 significant
# digits, which SQLite's REAL storage returns exactly. They become Money in
# totals.py through one rounding function.
QTY = {"max_digits": 15, "decimal_places": 4}


class Product(models.Model):
    organisation = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="products")
    code = models.CharField(_("code"), max_length=64)
    label = models.CharField(_("label"), max_length=200)
    unit = models.CharField(_("unit"), max_length=16, default="u")
    unit_price = models.DecimalField(_("unit price (excl. VAT)"), **QTY)
    vat_rate = models.ForeignKey(VatRate, on_delete=models.PROTECT, verbose_name=_("VAT rate"))
    revenue_account = models.ForeignKey(
        Account, on_delete=models.PROTECT, verbose_name=_("revenue account"), related_name="+"
    )
    active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("product or service")
        verbose_name_plural = _("products and services")
        ordering = ["code"]
        constraints = [models.UniqueConstraint(fields=["organisation", "code"], name="product_code_unique")]

    def __str__(self) -> str:
        return f"{self.code} {self.label}"


class InvoiceType(models.Model):
    organisation = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="invoice_types")
    code = models.CharField(_("code"), max_length=32)
    name = models.CharField(_("name"), max_length=120)
    regie = models.ForeignKey(Regie, on_delete=models.PROTECT, verbose_name=_("régie"))
    series = models.ForeignKey(
        InvoiceSeries, on_delete=models.PROTECT, verbose_name=_("invoice number series"), related_name="+"
    )
    credit_note_series = models.ForeignKey(
        InvoiceSeries, on_delete=models.PROTECT, verbose_name=_("credit note number series"), related_name="+"
    )
    payment_delay_days = models.PositiveSmallIntegerField(
        _("payment delay (days)"), null=True, blank=True, help_text=_("Leave empty to use the organisation's.")
    )
    wording = models.TextField(_("wording shown on the invoice"), blank=True)
    active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("invoice type")
        verbose_name_plural = _("invoice types")
        constraints = [models.UniqueConstraint(fields=["organisation", "code"], name="invoice_type_code_unique")]

    def __str__(self) -> str:
        return self.name


class InvoiceQuerySet(models.QuerySet):
    def update(self, **kwargs: Any) -> int:
        if self.filter(status=Invoice.Status.POSTED).exists():
            raise ImmutableRecord(model=Invoice._meta.verbose_name, pk="*")
        return super().update(**kwargs)

    def delete(self) -> tuple[int, dict[str, int]]:
        if self.filter(status=Invoice.Status.POSTED).exists():
            raise ImmutableRecord(model=Invoice._meta.verbose_name, pk="*")
        return super().delete()


class FrozenTotals:
    """Net, VAT and total as Money once frozen (an invoice's at posting, a quote's when sent); None before."""

    currency: str
    net_minor: int | None
    vat_minor: int | None
    total_minor: int | None

    def _frozen(self, minor: int | None) -> Money | None:
        return None if minor is None else Money(minor, self.currency)

    @property
    def total(self) -> Money | None:
        return self._frozen(self.total_minor)

    @property
    def net(self) -> Money | None:
        return self._frozen(self.net_minor)

    @property
    def vat(self) -> Money | None:
        return self._frozen(self.vat_minor)


class Invoice(FrozenTotals, models.Model):
    class Status(models.TextChoices):
        DRAFT = "draft", _("Draft")
        VALIDATED = "validated", _("Validated")
        POSTED = "posted", _("Posted")
        CANCELLED = "cancelled", _("Cancelled")

    class Kind(models.TextChoices):
        INVOICE = "invoice", _("Invoice")
        CREDIT_NOTE = "credit_note", _("Credit note")

    organisation = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="invoices")
    invoice_type = models.ForeignKey(InvoiceType, on_delete=models.PROTECT, verbose_name=_("invoice type"))
    party = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="invoices", verbose_name=_("customer"))
    kind = models.CharField(_("kind"), max_length=16, choices=Kind, default=Kind.INVOICE)
    status = models.CharField(_("status"), max_length=16, choices=Status, default=Status.DRAFT)
    number = models.CharField(_("number"), max_length=32, null=True, blank=True, editable=False)
    issued_on = models.DateField(_("issue date"), null=True, blank=True)
    due_on = models.DateField(_("due date"), null=True, blank=True, editable=False)
    currency = models.CharField(_("currency"), max_length=3)
    billing_period = models.DateField(_("billing period"), null=True, blank=True,
                                      help_text=_("First day of the month billed, for monthly usage."))
    credited_invoice = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="credit_notes",
        verbose_name=_("credited invoice"),
    )
    customer_reference = models.CharField(_("customer's reference"), max_length=64, blank=True)
    notes = models.TextField(_("notes"), blank=True)
    # The quote this invoice finalises: posting deducts the quote's deposit requests (services/quotes.py).
    quote = models.ForeignKey("Quote", null=True, blank=True, on_delete=models.PROTECT, related_name="invoices",
                              verbose_name=_("quote"), editable=False)
    # Frozen at posting, never recomputed afterwards.
    net_minor = models.BigIntegerField(null=True, editable=False)
    vat_minor = models.BigIntegerField(null=True, editable=False)
    total_minor = models.BigIntegerField(null=True, editable=False)
    entry = models.OneToOneField(Entry, null=True, blank=True, on_delete=models.PROTECT, editable=False,
                                 related_name="invoice")
    receivable_line = models.OneToOneField(EntryLine, null=True, blank=True, on_delete=models.PROTECT,
                                           editable=False, related_name="invoice")
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
                                   related_name="+", editable=False)
    posted_at = models.DateTimeField(_("posted at"), null=True, blank=True, editable=False)

    objects = InvoiceQuerySet.as_manager()

    class Meta:
        verbose_name = _("invoice")
        verbose_name_plural = _("invoices")
        ordering = ["-pk"]
        indexes = [models.Index(fields=["organisation", "status"]), models.Index(fields=["party", "status"])]
        constraints = [
            models.CheckConstraint(
                condition=~Q(status="posted")
                | Q(number__isnull=False, entry__isnull=False, total_minor__isnull=False, issued_on__isnull=False),
                name="invoice_posted_has_number_and_entry",
            ),
            models.UniqueConstraint(fields=["organisation", "number"], name="invoice_number_unique"),
            models.CheckConstraint(
                condition=Q(kind="invoice", credited_invoice__isnull=True)
                | Q(kind="credit_note", credited_invoice__isnull=False),
                name="invoice_credit_note_points_at_invoice",
            ),
            # One final invoice per quote: a second would deduct the same deposits twice.
            models.UniqueConstraint(fields=["quote"], condition=Q(kind="invoice") & ~Q(status="cancelled"),
                                    name="invoice_one_final_per_quote"),
        ]

    def __str__(self) -> str:
        return self.display_name

    @classmethod
    def from_db(cls, db: Any, field_names: Any, values: Any, **kwargs: Any) -> Invoice:
        instance = super().from_db(db, field_names, values, **kwargs)
        instance._loaded_status = instance.__dict__.get("status")
        return instance

    def save(self, *args: Any, **kwargs: Any) -> None:
        if getattr(self, "_loaded_status", None) == self.Status.POSTED:
            raise ImmutableRecord(model=self._meta.verbose_name, pk=self.display_name)
        super().save(*args, **kwargs)
        self._loaded_status = self.status

    def delete(self, *args: Any, **kwargs: Any) -> tuple[int, dict[str, int]]:
        if getattr(self, "_loaded_status", None) == self.Status.POSTED:
            raise ImmutableRecord(model=self._meta.verbose_name, pk=self.display_name)
        return super().delete(*args, **kwargs)

    @property
    def display_name(self) -> str:
        if self.number:
            return self.number
        label = _("Draft") if self.kind == self.Kind.INVOICE else _("Draft credit note")
        return f"{label} #{self.pk}"

    @property
    def is_posted(self) -> bool:
        return self.status == self.Status.POSTED

    def payment_delay(self) -> int:
        for days in (self.party.payment_delay_days, self.invoice_type.payment_delay_days):
            if days is not None:
                return days
        return self.organisation.default_payment_delay_days

    def due_date_for(self, issued_on: date) -> date:
        return issued_on + timedelta(days=self.payment_delay())


class PricedLine(models.Model):
    """The fields an invoice line and a quote line share, so that a quote line copies onto its final invoice.

    A product or a free label, a quantity at a unit price, a VAT rate and a
    revenue account. Neither line changes once its document is frozen (a
    posted invoice, a sent quote): save and delete ask refuse_if_frozen first.
    """

    position = models.PositiveIntegerField(_("position"), default=0)
    product = models.ForeignKey(Product, null=True, blank=True, on_delete=models.PROTECT, verbose_name=_("product"))
    label = models.CharField(_("label"), max_length=300)
    quantity = models.DecimalField(_("quantity"), **QTY)
    unit = models.CharField(_("unit"), max_length=16, default="u")
    unit_price = models.DecimalField(_("unit price (excl. VAT)"), **QTY)
    vat_rate = models.ForeignKey(VatRate, on_delete=models.PROTECT, verbose_name=_("VAT rate"))
    revenue_account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="+",
                                        verbose_name=_("revenue account"))

    class Meta:
        abstract = True

    def __str__(self) -> str:
        return self.label

    def refuse_if_frozen(self) -> None:
        """Raise ImmutableRecord when the line's document may no longer change."""
        raise NotImplementedError

    def save(self, *args: Any, **kwargs: Any) -> None:
        self.refuse_if_frozen()
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> tuple[int, dict[str, int]]:
        self.refuse_if_frozen()
        return super().delete(*args, **kwargs)


class InvoiceLine(PricedLine):
    class Source(models.TextChoices):
        MANUAL = "manual", _("Entered by staff")
        IMPORT = "import", _("Usage import")
        CREDIT = "credit", _("Credit note")

    invoice = models.ForeignKey(Invoice, on_delete=models.CASCADE, related_name="lines")
    net_minor = models.BigIntegerField(null=True, editable=False)
    source = models.CharField(_("source"), max_length=16, choices=Source, default=Source.MANUAL)
    credited_line = models.ForeignKey("self", null=True, blank=True, on_delete=models.PROTECT,
                                      related_name="credit_lines")
    # Where an imported line came from. Plain values, not foreign keys: usage
    # imports live in a layer above invoicing. source_key names the partner and
    # month ("usage:<partner id>:2026-03") so a corrected file replaces exactly
    # the lines of the earlier import of that partner and month.
    source_key = models.CharField(_("source"), max_length=64, blank=True, db_index=True, editable=False)
    source_import_id = models.BigIntegerField(_("import"), null=True, blank=True, editable=False)
    source_line_number = models.PositiveIntegerField(_("line in file"), null=True, blank=True, editable=False)

    class Meta:
        verbose_name = _("invoice line")
        verbose_name_plural = _("invoice lines")
        ordering = ["invoice", "position", "pk"]

    def refuse_if_frozen(self) -> None:
        if self.invoice_id and Invoice.objects.filter(pk=self.invoice_id, status=Invoice.Status.POSTED).exists():
            raise ImmutableRecord(model=self._meta.verbose_name, pk=self.pk or "new")


# --- quotes and deposit requests (acomptes) ------------------------------------------------------------------


class Quote(FrozenTotals, models.Model):
    """A priced offer to a customer; deposit requests are asked on it and its final invoice deducts them.

    The quote's number is taken and its totals frozen when it is sent: what the
    customer accepted is what the deposits are a share of. It never touches the
    ledger itself; its deposit requests and its final invoice do.
    """

    class Status(models.TextChoices):  # a quote: "devis" is masculine in French, hence the context
        DRAFT = "draft", pgettext_lazy("quote", "Draft")
        SENT = "sent", pgettext_lazy("quote", "Sent")
        ACCEPTED = "accepted", pgettext_lazy("quote", "Accepted")
        INVOICED = "invoiced", pgettext_lazy("quote", "Invoiced")
        CANCELLED = "cancelled", pgettext_lazy("quote", "Cancelled")

    organisation = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="quotes")
    party = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="quotes", verbose_name=_("customer"))
    invoice_type = models.ForeignKey(InvoiceType, on_delete=models.PROTECT, verbose_name=_("invoice type"),
                                     help_text=_("The final invoice's type: its régie and number series."))
    number = models.CharField(_("number"), max_length=32, null=True, blank=True, editable=False)
    status = models.CharField(_("status"), max_length=16, choices=Status, default=Status.DRAFT, editable=False)
    issued_on = models.DateField(_("issue date"), null=True, blank=True)
    valid_until = models.DateField(_("valid until"), null=True, blank=True)
    currency = models.CharField(_("currency"), max_length=3)
    # Frozen when the quote is sent.
    net_minor = models.BigIntegerField(null=True, editable=False)
    vat_minor = models.BigIntegerField(null=True, editable=False)
    total_minor = models.BigIntegerField(null=True, editable=False)
    customer_reference = models.CharField(_("customer's reference"), max_length=64, blank=True)
    notes = models.TextField(_("notes"), blank=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
                                   related_name="+", editable=False)

    class Meta:
        verbose_name = _("quote")
        verbose_name_plural = _("quotes")
        ordering = ["-pk"]
        constraints = [
            models.UniqueConstraint(fields=["organisation", "number"], name="quote_number_unique"),
            models.CheckConstraint(condition=Q(status="draft") | Q(number__isnull=False, total_minor__isnull=False),
                                   name="quote_sent_has_number_and_total"),
        ]

    def __str__(self) -> str:
        return self.display_name

    @property
    def display_name(self) -> str:
        if self.number:
            return self.number
        return _("Draft quote #%(id)s") % {"id": self.pk}


class QuoteLine(PricedLine):
    """A line of a quote: the same fields as an invoice line, copied onto the final invoice."""

    quote = models.ForeignKey(Quote, on_delete=models.CASCADE, related_name="lines")

    class Meta:
        verbose_name = _("quote line")
        verbose_name_plural = _("quote lines")
        ordering = ["quote", "position", "pk"]

    def refuse_if_frozen(self) -> None:
        # What the customer was sent is what the deposits are a share of: it stays as sent.
        if self.quote_id and Quote.objects.filter(pk=self.quote_id).exclude(status=Quote.Status.DRAFT).exists():
            raise ImmutableRecord(model=self._meta.verbose_name, pk=self.pk or "new")


class DepositRequestQuerySet(models.QuerySet):
    def update(self, **kwargs: Any) -> int:
        if set(kwargs) - DepositRequest.AFTER_ISSUE and self.exclude(status=DepositRequest.Status.DRAFT).exists():
            raise ImmutableRecord(model=DepositRequest._meta.verbose_name, pk="*")
        return super().update(**kwargs)

    def delete(self) -> tuple[int, dict[str, int]]:
        if self.exclude(status=DepositRequest.Status.DRAFT).exists():
            raise ImmutableRecord(model=DepositRequest._meta.verbose_name, pk="*")
        return super().delete()


class DepositRequest(models.Model):
    """A deposit (acompte) asked on a quote: once issued, a receivable like an invoice, on 411 against 4191.

    Issued requests are never edited or deleted, like posted invoices; only
    what happens to them afterwards is written (cancelled by a reversing
    entry, deducted by the final invoice). "Paid" is read from the ledger.
    """

    class Status(models.TextChoices):  # a deposit request: "demande" is feminine in French
        DRAFT = "draft", pgettext_lazy("deposit request", "Draft")
        ISSUED = "issued", pgettext_lazy("deposit request", "Issued")
        CANCELLED = "cancelled", pgettext_lazy("deposit request", "Cancelled")

    # Fields an issued request may still have written: what became of it, never what was asked.
    AFTER_ISSUE = frozenset({"status", "deduction_entry", "cancel_entry"})

    organisation = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="deposit_requests")
    quote = models.ForeignKey(Quote, on_delete=models.PROTECT, related_name="deposit_requests",
                              verbose_name=_("quote"))
    position = models.PositiveIntegerField(_("position"), default=0)
    label = models.CharField(_("label"), max_length=200)
    amount_minor = models.BigIntegerField(_("amount"))
    currency = models.CharField(_("currency"), max_length=3)
    # The share of the quote's total asked, when it was asked as a percentage; the amount is what counts.
    percent = models.DecimalField(_("share of the quote (%)"), max_digits=5, decimal_places=2, null=True,
                                  blank=True)
    due_on = models.DateField(_("due date"))
    status = models.CharField(_("status"), max_length=16, choices=Status, default=Status.DRAFT, editable=False)
    number = models.CharField(_("number"), max_length=32, null=True, blank=True, editable=False)
    issued_on = models.DateField(_("issue date"), null=True, blank=True, editable=False)
    issued_at = models.DateTimeField(_("issued at"), null=True, blank=True, editable=False)
    entry = models.OneToOneField(Entry, null=True, blank=True, on_delete=models.PROTECT, editable=False,
                                 related_name="deposit_request")
    receivable_line = models.OneToOneField(EntryLine, null=True, blank=True, on_delete=models.PROTECT,
                                           editable=False, related_name="deposit_request")
    cancel_entry = models.OneToOneField(Entry, null=True, blank=True, on_delete=models.PROTECT, editable=False,
                                        related_name="cancelled_deposit_request")
    # The final invoice's deduction entry: from then on nothing more is to be paid on this request.
    deduction_entry = models.ForeignKey(Entry, null=True, blank=True, on_delete=models.PROTECT, editable=False,
                                        related_name="deducted_deposit_requests")
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    objects = DepositRequestQuerySet.as_manager()

    class Meta:
        verbose_name = _("deposit request")
        verbose_name_plural = _("deposit requests")
        ordering = ["quote", "position", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["organisation", "number"], name="deposit_number_unique"),
            models.CheckConstraint(condition=Q(amount_minor__gt=0), name="deposit_amount_positive"),
            models.CheckConstraint(
                condition=Q(status="draft") | Q(number__isnull=False, entry__isnull=False,
                                                receivable_line__isnull=False) | Q(status="cancelled"),
                name="deposit_issued_has_number_and_entry",
            ),
        ]

    def __str__(self) -> str:
        return self.display_name

    @classmethod
    def from_db(cls, db: Any, field_names: Any, values: Any, **kwargs: Any) -> DepositRequest:
        instance = super().from_db(db, field_names, values, **kwargs)
        instance._loaded_status = instance.__dict__.get("status")
        return instance

    def _frozen(self) -> bool:
        return getattr(self, "_loaded_status", self.Status.DRAFT) != self.Status.DRAFT

    def save(self, *args: Any, **kwargs: Any) -> None:
        fields = kwargs.get("update_fields")
        if self._frozen() and (fields is None or set(fields) - self.AFTER_ISSUE):
            raise ImmutableRecord(model=self._meta.verbose_name, pk=self.display_name)
        super().save(*args, **kwargs)
        self._loaded_status = self.status

    def delete(self, *args: Any, **kwargs: Any) -> tuple[int, dict[str, int]]:
        if self._frozen():
            raise ImmutableRecord(model=self._meta.verbose_name, pk=self.display_name)
        return super().delete(*args, **kwargs)

    @property
    def display_name(self) -> str:
        return self.number or f"{_('Draft deposit request')} #{self.pk}"

    @property
    def amount(self) -> Money:
        return Money(self.amount_minor, self.currency)
