"""Reading payments for the pages that show them: attempts, notifications, the entries they made. Nothing here writes.

The back office renders what these return; every query starts from a record
the page already found in the viewer's organisation (a customer, an attempt,
a provider account), so nothing here reaches another organisation's rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from django.core.exceptions import ValidationError
from django.db.models import Q, QuerySet, Sum
from django.utils.translation import gettext_lazy as _

from encaisse.core.money import Money
from encaisse.ledger.models import Entry, EntryLine, Settlement
from encaisse.ledger.selectors import open_amount
from encaisse.parties.models import Customer

from .models import AttemptKind, InboundEvent, Payment, PaymentAttempt, ProviderAccount, SavedMethod
from .providers import PROVIDER_SECRETS, adapter_for
from .setup import can_keep_without_paying

# --- provider accounts ------------------------------------------------------------------------------------------

_COMMON_OPTIONS = (
    ("api_base", _("the provider's API address, for a test platform (empty: the provider's own)")),
    ("timeout_seconds", _("seconds to wait for the provider's answer (default 10)")),
)

# The non-secret options each builder reads from ProviderAccount.settings, explained for the person filling them.
PROVIDER_OPTIONS: dict[str, tuple[tuple[str, object], ...]] = {
    "sandbox": (
        ("settle_after_seconds", _("seconds before a pending test payment is decided (default 30)")),
        ("fee_minor", _("fee the sandbox keeps on each payment, in cents (default 0)")),
    ),
    "stripe": _COMMON_OPTIONS,
    "paypal": (("webhook_id", _("the webhook's id shown by PayPal, to verify its notifications")), *_COMMON_OPTIONS),
    "payfip": (
        ("client_number", _("the collectivity's PayFiP client number (numcli)")),
        ("environment", _("“production”, or “test” for PayFiP's test platform")),
        *_COMMON_OPTIONS,
    ),
    "ogone": (
        ("pspid", _("your Ogone / Worldline merchant id (PSPID)")),
        ("api_user", _("the API user for refunds and status requests")),
        ("hash_algorithm", _("SHA-1, SHA-256 or SHA-512, as set in the provider's back office (default SHA-512)")),
        *_COMMON_OPTIONS,
    ),
}


@dataclass(frozen=True, slots=True)
class SecretState:
    name: str
    variable: str  # the environment variable an operator sets
    required: bool
    masked: str  # "••••••••abcd" when set, "" when missing: never the secret itself

    @property
    def is_set(self) -> bool:
        return bool(self.masked)


def secret_states(account: ProviderAccount) -> list[SecretState]:
    """Each secret the account's provider needs: its variable and whether it is set, shown masked."""
    return [SecretState(name=name, variable=account.secret_variable(name), required=required,
                        masked=account.masked_secret(name))
            for name, required in PROVIDER_SECRETS.get(account.provider, ())]


def is_configured(account: ProviderAccount) -> bool:
    """Whether payments can go through this account: an adapter exists and its secrets are set."""
    try:
        adapter_for(account)
    except LookupError:  # no adapter for the provider, or MissingSecret
        return False
    return True


# The payment method (invoicing's PaymentMethod values, which régies allow) each provider takes.
PROVIDER_METHOD = {"sandbox": "card", "stripe": "card", "ogone": "card", "paypal": "paypal", "payfip": "payfip"}


def payable_accounts(organisation_id: int, *, regie_codes: set[str],
                     allowed_methods: set[str] | None) -> list[ProviderAccount]:
    """The accounts a payer may choose for items of these régies: active, configured, of an allowed method.

    An account bound to a régie collects only that régie's items; `allowed_methods`
    is what the régies allow (None: every method; an empty set: none).
    """
    accounts = ProviderAccount.objects.filter(organisation_id=organisation_id, active=True,
                                              provider__in=list(PROVIDER_METHOD))
    return [account for account in accounts
            if (not account.regie_code or regie_codes == {account.regie_code})
            and (allowed_methods is None or PROVIDER_METHOD[account.provider] in allowed_methods)
            and is_configured(account)]


# --- one attempt ------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PaidItem:
    """A receivable line an attempt pays: what it is for, its amount and what is still open on it."""

    line: EntryLine
    amount: Money
    open: Money


def items_paid_by(attempt: PaymentAttempt) -> list[PaidItem]:
    """The receivable lines named by the attempt (its line_ids), in the attempt's organisation."""
    lines = (EntryLine.objects.filter(pk__in=[int(pk) for pk in attempt.line_ids or []],
                                      organisation_id=attempt.organisation_id)
             .select_related("entry").order_by("due_on", "pk"))
    return [PaidItem(line=line, amount=line.debit, open=open_amount(line)) for line in lines]


def events_of(attempts: list[PaymentAttempt]) -> list[InboundEvent]:
    """The provider notifications that concerned these attempts, oldest first."""
    return list(InboundEvent.objects.filter(attempt__in=attempts).select_related("provider_account", "attempt")
                .order_by("received_at", "pk"))


def refunds_of(attempt: PaymentAttempt) -> list[PaymentAttempt]:
    return list(attempt.refunds.select_related("settled_entry").order_by("created_at"))


# --- everything that paid one receivable line (an invoice's) ----------------------------------------------------


def attempts_paying(*, customer: Customer, line_id: int) -> list[PaymentAttempt]:
    """Every attempt of the customer that named this receivable line, with the refunds of those, oldest first.

    `line_ids` is a JSON list: PostgreSQL could search inside it, SQLite cannot,
    so the customer's attempts are read and filtered here. A customer has tens
    of attempts, not thousands; only the two columns needed are fetched first.
    """
    ids = [pk for pk, line_ids in PaymentAttempt.objects.filter(customer=customer).values_list("pk", "line_ids")
           if line_id in {int(item) for item in line_ids or []}]
    return list(PaymentAttempt.objects.filter(Q(pk__in=ids) | Q(refund_of__in=ids), customer=customer)
                .select_related("provider_account", "settled_entry").order_by("created_at"))


def offline_payments_settling(line: EntryLine) -> list[Payment]:
    """The cheques, cash, transfers and terminal payments whose entry settled this line."""
    entries = Settlement.objects.filter(debit_line=line).values("credit_line__entry_id")
    return list(Payment.objects.filter(entry_id__in=entries).select_related("created_by")
                .order_by("received_on", "pk"))


@dataclass(frozen=True, slots=True)
class LineMovement:
    """One ledger entry that touched a receivable line, with the amount it moved on it."""

    entry: Entry
    date: date
    journal: str
    label: str
    amount: Money
    what: str  # "posted", "settled", "refund"


def line_movements(line: EntryLine, *, attempts: list[PaymentAttempt] = ()) -> list[LineMovement]:
    """The entries touching this receivable line: its posting, each settlement of it, and refunds paid out.

    A settlement's entry is the payment, credit note or advance allocation
    whose credit line paid this one; the amount is what it settled here. A
    refund does not settle the line (it gives money back): it is listed from
    the refund attempts given, with their booked entry.
    """
    currency = line.currency
    rows = [LineMovement(entry=line.entry, date=line.entry.date, journal=line.entry.journal.code,
                         label=line.entry.label, amount=Money(line.debit_minor - line.credit_minor, currency),
                         what="posted")]
    settled = (Settlement.objects.filter(debit_line=line).values("credit_line__entry_id")
               .annotate(total=Sum("amount_minor")))
    amounts = {row["credit_line__entry_id"]: row["total"] for row in settled}
    for entry in Entry.objects.filter(pk__in=amounts).select_related("journal"):
        rows.append(LineMovement(entry=entry, date=entry.date, journal=entry.journal.code, label=entry.label,
                                 amount=Money(-amounts[entry.pk], currency), what="settled"))
    refunds = [a for a in attempts if a.kind == AttemptKind.REFUND and a.settled_entry_id]
    for entry in Entry.objects.filter(pk__in=[a.settled_entry_id for a in refunds]).select_related("journal"):
        attempt = next(a for a in refunds if a.settled_entry_id == entry.pk)
        rows.append(LineMovement(entry=entry, date=entry.date, journal=entry.journal.code, label=entry.label,
                                 amount=attempt.amount, what="refund"))
    return sorted(rows, key=lambda row: (row.date, row.entry.sequence))


@dataclass(frozen=True, slots=True)
class LineTransactions:
    attempts: list[PaymentAttempt]
    events: list[InboundEvent]
    payments: list[Payment]
    movements: list[LineMovement]


def transactions_of_line(*, customer: Customer, line: EntryLine) -> LineTransactions:
    """All that happened to pay one receivable line: attempts, notifications, offline payments, entries."""
    attempts = attempts_paying(customer=customer, line_id=line.pk)
    return LineTransactions(attempts=attempts, events=events_of(attempts), payments=offline_payments_settling(line),
                            movements=line_movements(line, attempts=attempts))


# --- what the customer sees of what paid their items (portal) ---------------------------------------------------


@dataclass(frozen=True, slots=True)
class Settled:
    """One thing that paid (part of) a receivable line, as the customer sees it: when, how much, how."""

    date: date
    amount: Money
    how: str  # "Cheque", the provider account's name ("Carte"), or the entry's label (credit note, advance)
    attempt_id: object = None  # the online payment's id, for its receipt page


def settled_on_line(*, viewer: Customer, line: EntryLine) -> list[Settled]:
    """What settled one of the viewer's receivable lines, oldest first; nothing for another customer's line."""
    if line.party_id != viewer.pk:
        return []
    attempts = attempts_paying(customer=viewer, line_id=line.pk)
    by_entry: dict[int, str] = {payment.entry_id: payment.get_method_display()
                                for payment in offline_payments_settling(line)}
    online = {attempt.settled_entry_id: attempt for attempt in attempts
              if attempt.settled_entry_id and attempt.kind != AttemptKind.REFUND}
    by_entry.update({entry_id: attempt.provider_account.name for entry_id, attempt in online.items()})
    return [Settled(date=row.date, amount=-row.amount, how=by_entry.get(row.entry.pk, row.label),
                    attempt_id=online[row.entry.pk].pk if row.entry.pk in online else None)
            for row in line_movements(line) if row.what == "settled"]


def last_settled(*, viewer: Customer, lines: Sequence[EntryLine]) -> dict[int, Settled]:
    """The latest settlement of each of the viewer's receivable lines, keyed by line id, in three queries.

    What settled_on_line(...)[-1] gives for one line, for a whole list at once
    (the portal's "paid" list would otherwise ask seven questions per row).
    """
    mine = [line.pk for line in lines if line.party_id == viewer.pk]
    rows = (Settlement.objects.filter(debit_line_id__in=mine)
            .values("debit_line_id", "currency", "credit_line__entry_id", "credit_line__entry__date",
                    "credit_line__entry__sequence", "credit_line__entry__label")
            .annotate(total=Sum("amount_minor")))
    latest: dict[int, dict] = {}
    for row in rows:
        order = (row["credit_line__entry__date"], row["credit_line__entry__sequence"])
        kept = latest.get(row["debit_line_id"])
        if kept is None or order > (kept["credit_line__entry__date"], kept["credit_line__entry__sequence"]):
            latest[row["debit_line_id"]] = row
    entry_ids = {row["credit_line__entry_id"] for row in latest.values()}
    how = {payment.entry_id: payment.get_method_display()
           for payment in Payment.objects.filter(entry_id__in=entry_ids)}
    online = {attempt.settled_entry_id: attempt
              for attempt in PaymentAttempt.objects.filter(customer=viewer, settled_entry_id__in=entry_ids)
              .exclude(kind=AttemptKind.REFUND).select_related("provider_account")}
    result = {}
    for line_id, row in latest.items():
        entry_id = row["credit_line__entry_id"]
        attempt = online.get(entry_id)
        result[line_id] = Settled(
            date=row["credit_line__entry__date"], amount=Money(row["total"], row["currency"]),
            how=attempt.provider_account.name if attempt else how.get(entry_id, row["credit_line__entry__label"]),
            attempt_id=attempt.pk if attempt else None)
    return result


def saved_methods_for(*, viewer: Customer) -> QuerySet[SavedMethod]:
    """The viewer's kept cards and accounts, active or not (the portal lists them; ids of others never match)."""
    return SavedMethod.objects.filter(customer=viewer, organisation_id=viewer.organisation_id)


def attempts_for(*, viewer: Customer) -> QuerySet[PaymentAttempt]:
    """The viewer's online payments (checkouts and charges of a saved method; refunds are shown on these)."""
    return (PaymentAttempt.objects.filter(customer=viewer, organisation_id=viewer.organisation_id,
                                          kind__in=[AttemptKind.CHECKOUT, AttemptKind.CHARGE])
            .select_related("provider_account").order_by("-created_at"))


def attempt_for(*, viewer: Customer, pk: object) -> PaymentAttempt:
    """One of the viewer's online payments; PaymentAttempt.DoesNotExist for anyone else's or a malformed id."""
    try:
        return attempts_for(viewer=viewer).get(pk=pk)
    except (ValueError, ValidationError) as error:  # not a UUID
        raise PaymentAttempt.DoesNotExist(str(pk)) from error


# --- keeping a card without paying ------------------------------------------------------------------------------


def accounts_keeping_cards(*, viewer: Customer) -> list[ProviderAccount]:
    """The viewer's organisation's accounts that can keep a card without a payment: active and configured."""
    accounts = ProviderAccount.objects.filter(organisation_id=viewer.organisation_id, active=True,
                                              provider__in=list(PROVIDER_METHOD)).order_by("name", "pk")
    return [account for account in accounts
            if is_configured(account) and can_keep_without_paying(adapter_for(account))]


def setup_attempt_for(*, viewer: Customer, pk: object) -> PaymentAttempt:
    """One of the viewer's "save a card" attempts; PaymentAttempt.DoesNotExist for anyone else's or a bad id."""
    try:
        return (PaymentAttempt.objects.select_related("provider_account")
                .get(pk=pk, customer=viewer, organisation_id=viewer.organisation_id, kind=AttemptKind.SETUP))
    except (ValueError, ValidationError) as error:  # not a UUID
        raise PaymentAttempt.DoesNotExist(str(pk)) from error


def method_kept_by(*, viewer: Customer, attempt: PaymentAttempt) -> SavedMethod | None:
    """The method the viewer's attempt kept, if it kept one."""
    return saved_methods_for(viewer=viewer).filter(source_attempt=attempt).first()
