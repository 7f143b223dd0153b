"""Automatic collection: the policy that says when and how, each invoice's collection, and the runs.

A **Collection** is the effort to collect one receivable line (one posted
invoice) automatically, from the first try to the last: its method (card or
direct debit), how many tries, when the next one is due, how it ended. While
it is open (in flight or waiting for a retry) no other collection of the
same line can exist: a partial unique index, so two workers running the same
day's collection at once cannot both charge or batch an invoice.

A **CollectionRun** is one pass over the due invoices (the daily task, a
click in the back office, `encaisse collect`); its **RunItem**s say what it
did with each invoice considered, including everything it skipped and why.

A **CollectionHold** is staff saying "not automatically": a customer blocked
(none of their invoices) or one posted invoice disputed, with the reason. It
is a record, never deleted: lifting it dates and signs it, and the database
holds at most one hold in force per customer (block) and per invoice
(dispute). collection.holds writes them; runs read them as they start, and
again in each claim's transaction.
"""

from __future__ import annotations

import uuid
from functools import cached_property

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from encaisse.core.errors import DomainError
from encaisse.core.money import Money
from encaisse.invoicing.models import Invoice, InvoiceType
from encaisse.ledger.models import EntryLine
from encaisse.parties.models import Customer, Organisation
from encaisse.payments.models import PaymentAttempt
from encaisse.sepa.models import DirectDebit


def default_retry_days() -> list[int]:
    return [3, 7, 14]


class CollectionPolicy(models.Model):
    """When and how an organisation collects: its default (no invoice type) or one invoice type's own."""

    class Start(models.TextChoices):
        DUE_DATE = "due_date", _("On the due date")
        AFTER_ISSUE = "after_issue", _("A number of days after the issue date")

    organisation = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="collection_policies")
    invoice_type = models.ForeignKey(InvoiceType, null=True, blank=True, on_delete=models.PROTECT,
                                     related_name="collection_policies", verbose_name=_("invoice type"),
                                     help_text=_("Empty: the organisation's default policy."))
    active = models.BooleanField(_("collect automatically"), default=True)
    start = models.CharField(_("collect"), max_length=16, choices=Start, default=Start.DUE_DATE)
    days_after_issue = models.PositiveSmallIntegerField(_("days after issue"), default=0)
    use_cards = models.BooleanField(_("charge saved cards"), default=True)
    use_direct_debit = models.BooleanField(_("SEPA direct debit"), default=True)
    card_retry_days = models.JSONField(
        _("retry declined cards after (days)"), default=default_retry_days,
        help_text=_("Days after the first decline, e.g. [3, 7, 14]."))
    max_card_attempts = models.PositiveSmallIntegerField(_("at most this many card attempts"), default=4)
    represent_insufficient_funds = models.BooleanField(
        _("re-present a direct debit returned for insufficient funds (AM04) once"), default=True)
    minimum_amount_minor = models.BigIntegerField(_("minimum amount"), default=100,
                                                  help_text=_("Smaller amounts are not collected automatically."))
    prenotification_days = models.PositiveSmallIntegerField(
        _("pre-notification (days before the debit)"), default=14)
    send_pay_link_on_failure = models.BooleanField(_("when every try failed: email the pay link"), default=True)
    start_reminders_on_failure = models.BooleanField(_("when every try failed: start reminders"), default=False)
    block_credit_on_failure = models.BooleanField(_("when every try failed: block the customer's credit"),
                                                  default=False)
    rebill_bank_fee = models.BooleanField(_("re-bill the bank's fee for a returned debit to the customer"),
                                          default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("collection policy")
        verbose_name_plural = _("collection policies")
        constraints = [
            models.UniqueConstraint(fields=["organisation", "invoice_type"], name="policy_per_type"),
            models.UniqueConstraint(fields=["organisation"], condition=Q(invoice_type__isnull=True),
                                    name="policy_default_once"),
        ]

    def __str__(self) -> str:
        return str(self.invoice_type) if self.invoice_type_id else str(_("Default policy"))

    @property
    def minimum_amount(self) -> Money:
        return Money(self.minimum_amount_minor, self.organisation.currency)


class Method(models.TextChoices):
    CARD = "card", _("Saved card")
    DIRECT_DEBIT = "direct_debit", _("SEPA direct debit")


class Collection(models.Model):
    """Collecting one receivable line automatically, across its tries; at most one open per line."""

    class Status(models.TextChoices):
        IN_FLIGHT = "in_flight", _("In progress")
        RETRY = "retry", _("Waiting for a retry")
        COLLECTED = "collected", _("Collected")
        FAILED = "failed", _("Failed")
        CANCELLED = "cancelled", _("Cancelled")

    OPEN = (Status.IN_FLIGHT, Status.RETRY)

    organisation = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="collections")
    invoice = models.ForeignKey(Invoice, on_delete=models.PROTECT, related_name="collections",
                                verbose_name=_("invoice"))
    line = models.ForeignKey(EntryLine, on_delete=models.PROTECT, related_name="collections")
    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="collections",
                                 verbose_name=_("customer"))
    method = models.CharField(_("method"), max_length=16, choices=Method)
    status = models.CharField(_("status"), max_length=16, choices=Status, default=Status.IN_FLIGHT)
    tries = models.PositiveSmallIntegerField(_("tries"), default=0)
    next_try_on = models.DateField(_("next try"), null=True, blank=True)
    # Foreign keys never searched by carry no index (here and on RunItem, DirectDebit): a collection run of
    # 100,000 invoices pays for each index on every row it writes.
    attempt = models.ForeignKey(PaymentAttempt, null=True, blank=True, on_delete=models.PROTECT,
                                related_name="+", verbose_name=_("last card attempt"), db_index=False)
    direct_debit = models.ForeignKey(DirectDebit, null=True, blank=True, on_delete=models.PROTECT,
                                     related_name="+", verbose_name=_("last direct debit"))
    reason = models.CharField(_("reason"), max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("collection")
        verbose_name_plural = _("collections")
        ordering = ["-created_at"]
        constraints = [models.UniqueConstraint(fields=["line"], condition=Q(status__in=["in_flight", "retry"]),
                                               name="one_open_collection_per_line")]

    def __str__(self) -> str:
        return f"{self.invoice} — {self.get_method_display()} — {self.get_status_display()}"


class CollectionRun(models.Model):
    class Status(models.TextChoices):
        RUNNING = "running", _("Running")
        DONE = "done", _("Done")
        FAILED = "failed", _("Stopped by an error")

    class Trigger(models.TextChoices):
        SCHEDULE = "schedule", _("Daily task")
        BACKOFFICE = "backoffice", _("Back office")
        CLI = "cli", _("Command line")

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organisation = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="collection_runs")
    run_on = models.DateField(_("collection day"))
    dry_run = models.BooleanField(_("dry run"), default=False)
    trigger = models.CharField(_("started by"), max_length=16, choices=Trigger, default=Trigger.SCHEDULE)
    status = models.CharField(_("status"), max_length=16, choices=Status, default=Status.RUNNING)
    counts = models.JSONField(default=dict, blank=True)  # outcome -> number of invoices
    error = models.TextField(blank=True)
    started_at = models.DateTimeField(_("started at"), auto_now_add=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)
    started_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
                                   related_name="+")

    class Meta:
        verbose_name = _("collection run")
        verbose_name_plural = _("collection runs")
        ordering = ["-started_at"]

    def __str__(self) -> str:
        return f"{self.run_on} ({self.get_status_display()})"

    @cached_property
    def item_list(self) -> list[RunItem]:
        """The run's lines in the order written, with their invoices and customers (the CLI lists both). A dry
        run, which writes nothing, sets its unsaved lines here instead; a real run reads them back only when
        asked (100,000 stay in the database)."""
        if self._state.adding:
            return []
        return list(self.items.select_related("invoice__party").order_by("pk"))


class Outcome(models.TextChoices):
    CHARGED = "charged", _("Charged")
    DECLINED = "declined", _("Declined")
    PENDING = "pending", _("Being confirmed")
    UNKNOWN = "unknown", _("Outcome unknown (asked again later)")
    BATCHED = "batched", _("Added to a direct-debit batch")
    SKIPPED = "skipped", _("Skipped")
    FAILED = "failed", _("Failed: every try used")


class SkipReason(models.TextChoices):
    NO_METHOD = "no_method", _("No valid payment method")
    MANDATE_LAPSED = "mandate_lapsed", _("Mandate lapsed or revoked")
    CUSTOMER_BLOCKED = "customer_blocked", _("Customer blocked")
    BELOW_MINIMUM = "below_minimum", _("Amount below the minimum")
    IN_PROGRESS = "in_progress", _("A collection is already in progress")
    DISPUTED = "disputed", _("Disputed")
    METHOD_NOT_ALLOWED = "method_not_allowed", _("The policy does not allow this method")
    NOT_DUE = "not_due", _("Not due yet")
    NO_BANK_ACCOUNT = "no_bank_account", _("No direct-debit bank account")


class RunItem(models.Model):
    """What one run did with one invoice: the line a person reads to know why it was or was not collected."""

    run = models.ForeignKey(CollectionRun, on_delete=models.PROTECT, related_name="items")
    invoice = models.ForeignKey(Invoice, on_delete=models.PROTECT, related_name="+", verbose_name=_("invoice"))
    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="+", verbose_name=_("customer"),
                                 db_index=False)  # never searched by: no index
    collection = models.ForeignKey(Collection, null=True, blank=True, on_delete=models.PROTECT,
                                   related_name="run_items")
    amount_minor = models.BigIntegerField(_("amount"))
    currency = models.CharField(max_length=3)
    method = models.CharField(_("method"), max_length=16, choices=Method, blank=True)
    outcome = models.CharField(_("result"), max_length=16, choices=Outcome)
    reason = models.CharField(_("reason"), max_length=32, choices=SkipReason, blank=True)
    code = models.CharField(_("code"), max_length=64, blank=True)  # the provider's decline code
    message = models.CharField(_("message"), max_length=300, blank=True)
    attempt = models.ForeignKey(PaymentAttempt, null=True, blank=True, on_delete=models.PROTECT, related_name="+",
                                db_index=False)
    direct_debit = models.ForeignKey(DirectDebit, null=True, blank=True, on_delete=models.PROTECT,
                                     related_name="+", db_index=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("collection run line")
        verbose_name_plural = _("collection run lines")
        ordering = ["pk"]

    def __str__(self) -> str:
        return f"{self.invoice} — {self.get_outcome_display()}"

    @property
    def amount(self) -> Money:
        return Money(self.amount_minor, self.currency)


class HoldKind(models.TextChoices):
    # The values are SkipReason's: a run line skipped for a hold gives the hold's kind as its reason.
    CUSTOMER_BLOCKED = "customer_blocked", _("Customer blocked")
    DISPUTED = "disputed", _("Invoice disputed")


class CollectionHold(models.Model):
    """No automatic collection for a customer (blocked) or one of their invoices (disputed) while in force.

    In force until lifted; kept afterwards, with who placed and who lifted it,
    as the record of why an invoice was not collected. Written by
    collection.holds only.
    """

    Kind = HoldKind

    organisation = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="collection_holds")
    kind = models.CharField(_("kind"), max_length=16, choices=HoldKind)
    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="collection_holds",
                                 verbose_name=_("customer"))
    invoice = models.ForeignKey(Invoice, null=True, blank=True, on_delete=models.PROTECT,
                                related_name="collection_holds", verbose_name=_("invoice"))
    # As long as a run line's message, which repeats it.
    reason = models.CharField(_("reason"), max_length=300)
    created_at = models.DateTimeField(_("placed at"), auto_now_add=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
                                   related_name="+", verbose_name=_("placed by"))
    lifted_at = models.DateTimeField(_("lifted at"), null=True, blank=True)
    lifted_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
                                  related_name="+", verbose_name=_("lifted by"))

    class Meta:
        verbose_name = _("collection hold")
        verbose_name_plural = _("collection holds")
        ordering = ["-created_at", "-pk"]
        constraints = [
            # A dispute is about one invoice; a block about every invoice of the customer, so names none.
            models.CheckConstraint(
                condition=(Q(kind=HoldKind.DISPUTED, invoice__isnull=False)
                           | Q(kind=HoldKind.CUSTOMER_BLOCKED, invoice__isnull=True)),
                name="hold_dispute_names_its_invoice"),
            models.CheckConstraint(condition=~Q(reason=""), name="hold_has_a_reason"),
            models.UniqueConstraint(
                fields=["customer"], condition=Q(kind=HoldKind.CUSTOMER_BLOCKED, lifted_at__isnull=True),
                name="one_block_in_force_per_customer",
                violation_error_message=_("This customer is already blocked.")),
            models.UniqueConstraint(
                fields=["invoice"], condition=Q(kind=HoldKind.DISPUTED, lifted_at__isnull=True),
                name="one_dispute_in_force_per_invoice",
                violation_error_message=_("This invoice is already disputed.")),
        ]

    def __str__(self) -> str:
        subject = self.invoice.display_name if self.invoice_id else str(self.customer)
        return f"{self.get_kind_display()} — {subject}"

    @property
    def in_force(self) -> bool:
        return self.lifted_at is None

    def delete(self, *args: object, **kwargs: object) -> tuple[int, dict[str, int]]:
        raise HoldKept()


class HoldKept(DomainError):
    code = "collection_hold_kept"
    message = _("A collection hold is kept as a record: lift it instead of deleting it.")
