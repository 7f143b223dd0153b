"""Accounts, journals, periods, entries, lines and settlements.

Entries, lines and settlements are append-only (AppendOnlyModel here, a trigger
on PostgreSQL). Each organisation's entries form a chain: entry n stores the
hash of entry n-1 and a hash of its own content, so `ledger verify` can prove
that no row was edited, removed or slipped in afterwards.
"""

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _

from encaisse.core.models import AppendOnlyModel
from encaisse.core.money import Money
from encaisse.parties.models import Customer, Organisation


class Account(models.Model):
    class Kind(models.TextChoices):
        RECEIVABLE = "receivable", _("Customer receivable")
        ADVANCE = "advance", _("Customer advances")
        DEPOSITS = "deposits", _("Customer deposits on orders")
        BANK = "bank", _("Bank")
        CHEQUES = "cheques", _("Cheques to deposit")
        DIRECT_DEBITS = "direct_debits", _("Direct debits being collected")
        CASH = "cash", _("Cash")
        CLEARING = "clearing", _("Provider clearing")
        REVENUE = "revenue", _("Revenue")
        TAX = "tax", _("VAT collected")
        EXPENSE = "expense", _("Fees and charges")
        SUSPENSE = "suspense", _("Suspense (opening balances)")
        OTHER = "other", _("Other")

    organisation = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="accounts")
    code = models.CharField(_("code"), max_length=16)
    name = models.CharField(_("name"), max_length=120)
    kind = models.CharField(_("kind"), max_length=16, choices=Kind)

    class Meta:
        verbose_name = _("account")
        verbose_name_plural = _("chart of accounts")
        ordering = ["organisation", "code"]
        constraints = [models.UniqueConstraint(fields=["organisation", "code"], name="account_code_unique")]

    def __str__(self) -> str:
        return f"{self.code} {self.name}"

    @property
    def is_customer_account(self) -> bool:
        return self.kind in (self.Kind.RECEIVABLE, self.Kind.ADVANCE)


class Journal(models.Model):
    class Kind(models.TextChoices):
        SALES = "sales", _("Sales")
        BANK = "bank", _("Bank")
        CASH = "cash", _("Cash")
        CHEQUES = "cheques", _("Cheques")
        CLEARING = "clearing", _("Provider clearing")
        MISC = "misc", _("Miscellaneous")

    organisation = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="journals")
    code = models.CharField(_("code"), max_length=16)
    name = models.CharField(_("name"), max_length=120)
    kind = models.CharField(_("kind"), max_length=16, choices=Kind)

    class Meta:
        verbose_name = _("journal")
        verbose_name_plural = _("journals")
        ordering = ["organisation", "code"]
        constraints = [models.UniqueConstraint(fields=["organisation", "code"], name="journal_code_unique")]

    def __str__(self) -> str:
        return f"{self.code} {self.name}"


class FiscalYear(models.Model):
    organisation = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="fiscal_years")
    name = models.CharField(_("name"), max_length=32)
    start = models.DateField(_("start"))
    end = models.DateField(_("end"))

    class Meta:
        verbose_name = _("fiscal year")
        verbose_name_plural = _("fiscal years")
        ordering = ["organisation", "start"]
        constraints = [
            models.UniqueConstraint(fields=["organisation", "start"], name="fiscal_year_unique"),
            models.CheckConstraint(condition=Q(end__gt=F("start")), name="fiscal_year_ordered"),
        ]

    def __str__(self) -> str:
        return self.name


class Period(models.Model):
    """A month of a fiscal year; once closed, it accepts no new entry."""

    class State(models.TextChoices):
        OPEN = "open", _("Open")
        CLOSED = "closed", _("Closed")

    fiscal_year = models.ForeignKey(FiscalYear, on_delete=models.PROTECT, related_name="periods")
    organisation = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="periods")
    start = models.DateField(_("start"))
    end = models.DateField(_("end"))
    state = models.CharField(_("state"), max_length=8, choices=State, default=State.OPEN)
    closed_at = models.DateTimeField(_("closed at"), null=True, blank=True)
    closed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        verbose_name = _("period")
        verbose_name_plural = _("periods")
        ordering = ["organisation", "start"]
        constraints = [models.UniqueConstraint(fields=["organisation", "start"], name="period_unique")]

    def __str__(self) -> str:
        return self.start.strftime("%Y-%m")


class LedgerHead(models.Model):
    """The end of an organisation's chain: locked while an entry is appended."""

    organisation = models.OneToOneField(Organisation, on_delete=models.PROTECT, related_name="ledger_head")
    last_sequence = models.BigIntegerField(default=0)
    last_hash = models.CharField(max_length=64, default="0" * 64)

    def __str__(self) -> str:
        return f"{self.organisation}: {self.last_sequence}"


class Entry(AppendOnlyModel):
    organisation = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="entries")
    journal = models.ForeignKey(Journal, on_delete=models.PROTECT, related_name="entries")
    sequence = models.BigIntegerField(_("sequence"), editable=False)
    date = models.DateField(_("date"))
    label = models.CharField(_("label"), max_length=200)
    idempotency_key = models.CharField(_("event"), max_length=120)
    reverses = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="reversals"
    )
    posted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    posted_at = models.DateTimeField(_("posted at"), auto_now_add=True)
    origin = models.CharField(_("origin"), max_length=32, default="system")
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64)

    class Meta:
        verbose_name = _("ledger entry")
        verbose_name_plural = _("ledger entries")
        ordering = ["organisation", "sequence"]
        constraints = [
            models.UniqueConstraint(fields=["organisation", "idempotency_key"], name="entry_key_unique"),
            models.UniqueConstraint(fields=["organisation", "sequence"], name="entry_sequence_unique"),
        ]

    def __str__(self) -> str:
        return f"#{self.sequence} {self.label}"

    def debit_total(self) -> int:
        return sum(line.debit_minor for line in self.lines.all())

    def credit_total(self) -> int:
        return sum(line.credit_minor for line in self.lines.all())


class EntryLine(AppendOnlyModel):
    entry = models.ForeignKey(Entry, on_delete=models.PROTECT, related_name="lines")
    organisation = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="+")
    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="lines")
    # No index of its own: the (party, account) index below serves every lookup by party alone too (its first
    # column), and a second index would cost every line inserted for nothing.
    party = models.ForeignKey(
        Customer, null=True, blank=True, on_delete=models.PROTECT, related_name="ledger_lines", db_index=False
    )
    debit_minor = models.BigIntegerField(_("debit"), default=0)
    credit_minor = models.BigIntegerField(_("credit"), default=0)
    currency = models.CharField(max_length=3)
    due_on = models.DateField(_("due on"), null=True, blank=True)
    label = models.CharField(_("label"), max_length=200, blank=True)

    class Meta:
        verbose_name = _("entry line")
        verbose_name_plural = _("entry lines")
        ordering = ["entry", "pk"]
        indexes = [models.Index(fields=["party", "account"])]
        constraints = [
            models.CheckConstraint(
                condition=Q(debit_minor__gte=0, credit_minor__gte=0)
                & (Q(debit_minor=0) | Q(credit_minor=0)),
                name="entry_line_one_side",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.account.code} D{self.debit_minor} C{self.credit_minor}"

    @property
    def debit(self) -> Money:
        return Money(self.debit_minor, self.currency)

    @property
    def credit(self) -> Money:
        return Money(self.credit_minor, self.currency)

    @property
    def signed(self) -> Money:
        return Money(self.debit_minor - self.credit_minor, self.currency)


class Settlement(AppendOnlyModel):
    """Lettrage: `amount` of a debit line is matched by the same amount of a credit line.

    Both lines are on the same customer account. What remains of a debit line
    after its settlements is what the customer still owes on it.
    """

    organisation = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="+")
    debit_line = models.ForeignKey(EntryLine, on_delete=models.PROTECT, related_name="settled_as_debit")
    credit_line = models.ForeignKey(EntryLine, on_delete=models.PROTECT, related_name="settled_as_credit")
    amount_minor = models.BigIntegerField(_("amount"))
    currency = models.CharField(max_length=3)
    idempotency_key = models.CharField(max_length=120)
    # Délettrage: a settlement is undone by a second one, negative, naming it (a direct debit returned by the
    # bank reopens the invoice it had paid). Sums of settlements stay right without any other rule.
    reverses = models.OneToOneField("self", null=True, blank=True, on_delete=models.PROTECT,
                                    related_name="reversed_by")
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        verbose_name = _("settlement")
        verbose_name_plural = _("settlements")
        constraints = [
            models.CheckConstraint(condition=Q(amount_minor__gt=0, reverses__isnull=True)
                                   | Q(amount_minor__lt=0, reverses__isnull=False), name="settlement_positive"),
            models.UniqueConstraint(fields=["organisation", "idempotency_key"], name="settlement_key_unique"),
        ]

    @property
    def amount(self) -> Money:
        return Money(self.amount_minor, self.currency)
