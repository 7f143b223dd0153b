"""SEPA mandates: the debtor's authorisation to collect from their account."""

import uuid

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from schwifty import BIC, IBAN
from schwifty.exceptions import SchwiftyException

from encaisse.core.money import Money
from encaisse.invoicing.models import Invoice
from encaisse.ledger.models import Account, Entry, EntryLine
from encaisse.parties.models import Customer, Organisation


def validate_iban(value: str) -> None:
    try:
        IBAN(value)
    except SchwiftyException as error:
        # Masked: a mistyped IBAN is still almost the whole account number, and errors are shown and kept.
        raise ValidationError(_("%(value)s is not a valid IBAN: %(reason)s"),
                              params={"value": masked_iban(value.replace(" ", "")), "reason": error},
                              code="invalid") from error


def validate_bic(value: str) -> None:
    try:
        BIC(value)
    except SchwiftyException as error:
        raise ValidationError(_("%(value)s is not a valid BIC: %(reason)s"),
                              params={"value": value, "reason": error}, code="invalid") from error


def masked_iban(iban: str) -> str:
    """Show an IBAN as staff and logs may see it: country, check digits and the last four."""
    return f"{iban[:4]} •••• {iban[-4:]}" if len(iban) > 8 else "••••"


class Mandate(models.Model):
    class Scheme(models.TextChoices):
        CORE = "CORE", _("CORE (consumers)")
        B2B = "B2B", _("B2B (businesses)")

    class Status(models.TextChoices):
        ACTIVE = "active", _("Active")
        REVOKED = "revoked", _("Revoked")
        LAPSED = "lapsed", _("Lapsed (unused for 36 months)")

    class Source(models.TextChoices):
        PORTAL = "portal", _("Signed online in the portal")
        IMPORT = "import", _("Imported")
        BACKOFFICE = "backoffice", _("Entered by staff")

    organisation = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="mandates")
    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="mandates")
    reference = models.CharField(_("unique mandate reference (UMR)"), max_length=35)
    iban = models.CharField(_("IBAN"), max_length=34, validators=[validate_iban])
    bic = models.CharField(_("BIC"), max_length=11, blank=True, validators=[validate_bic])
    account_holder = models.CharField(_("account holder"), max_length=140, blank=True)
    signed_on = models.DateField(_("signature date"))
    scheme = models.CharField(_("scheme"), max_length=4, choices=Scheme, default=Scheme.CORE)
    status = models.CharField(_("status"), max_length=16, choices=Status, default=Status.ACTIVE)
    last_used_on = models.DateField(_("last collection"), null=True, blank=True)
    # A mandate signed online carries its own proof: the exact text agreed to, when, and from where.
    source = models.CharField(_("source"), max_length=16, choices=Source, default=Source.BACKOFFICE)
    text = models.TextField(_("mandate text as signed"), blank=True)
    signed_at = models.DateTimeField(_("signed at"), null=True, blank=True)
    signature_ip = models.GenericIPAddressField(_("signed from"), null=True, blank=True)
    revoked_at = models.DateTimeField(_("revoked at"), null=True, blank=True)
    revoked_reason = models.CharField(_("reason for revoking"), max_length=200, blank=True)
    # An amendment (new IBAN or new reference) is told to the debtor's bank with the next collection, then cleared.
    original_iban = models.CharField(_("IBAN before the amendment"), max_length=34, blank=True)
    original_reference = models.CharField(_("reference before the amendment"), max_length=35, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("SEPA mandate")
        verbose_name_plural = _("SEPA mandates")
        constraints = [models.UniqueConstraint(fields=["organisation", "reference"], name="mandate_umr_unique")]

    def __str__(self) -> str:
        return f"{self.reference} ({masked_iban(self.iban)})"

    @property
    def masked_iban(self) -> str:
        return masked_iban(self.iban)


class SchemaVersion(models.TextChoices):
    PAIN_008_001_02 = "pain.008.001.02", "pain.008.001.02"
    PAIN_008_001_08 = "pain.008.001.08", "pain.008.001.08"


class CreditorAccount(models.Model):
    """The organisation's bank account that receives its direct debits, and what its bank asks of the files."""

    organisation = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="creditor_accounts")
    name = models.CharField(_("name"), max_length=70)
    iban = models.CharField(_("IBAN"), max_length=34, validators=[validate_iban])
    bic = models.CharField(_("BIC"), max_length=11, blank=True, validators=[validate_bic])
    schema = models.CharField(_("file format"), max_length=16, choices=SchemaVersion,
                              default=SchemaVersion.PAIN_008_001_02,
                              help_text=_("The version of pain.008 the bank accepts."))
    lead_days = models.PositiveSmallIntegerField(
        _("days before collection"), default=1,
        help_text=_("TARGET business days between sending the file and the collection date (the rulebook's "
                    "minimum is 1; some banks ask for 2)."))
    bank_account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="+",
                                      verbose_name=_("bank account in the ledger"))
    active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("direct-debit bank account")
        verbose_name_plural = _("direct-debit bank accounts")
        constraints = [models.UniqueConstraint(fields=["organisation"], condition=Q(active=True),
                                               name="one_active_creditor_account")]

    def __str__(self) -> str:
        return f"{self.name} ({masked_iban(self.iban)})"


class SequenceType(models.TextChoices):
    FIRST = "FRST", _("First of a series")
    RECURRING = "RCUR", _("Recurring")
    ONE_OFF = "OOFF", _("One-off")
    FINAL = "FNAL", _("Final")


class DebitFile(models.Model):
    """One pain.008 file sent to the bank: frozen once written, its debits pending until settled or returned."""

    class Status(models.TextChoices):
        EXPORTED = "exported", _("Exported")
        SETTLED = "settled", _("Credited by the bank")
        REJECTED = "rejected", _("Rejected as a whole by the bank")

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organisation = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="debit_files")
    creditor_account = models.ForeignKey(CreditorAccount, on_delete=models.PROTECT, related_name="files",
                                         verbose_name=_("bank account"))
    message_id = models.CharField(_("message id"), max_length=35)
    schema = models.CharField(_("file format"), max_length=16, choices=SchemaVersion)
    scheme = models.CharField(_("scheme"), max_length=4, choices=Mandate.Scheme)
    collection_date = models.DateField(_("collection date"))
    status = models.CharField(_("status"), max_length=16, choices=Status, default=Status.EXPORTED)
    count = models.PositiveIntegerField(_("transactions"))
    control_sum_minor = models.BigIntegerField(_("control sum"))
    currency = models.CharField(max_length=3)
    payment_info_ids = models.JSONField(default=dict)  # "FRST/2026-12-10" -> PmtInfId, to read pain.002 back
    content = models.FileField(_("file"), upload_to="sepa/out/%Y/%m/")
    sha256 = models.CharField(max_length=64)
    entry = models.OneToOneField(Entry, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    settlement_entry = models.OneToOneField(Entry, null=True, blank=True, on_delete=models.PROTECT,
                                            related_name="+")
    created_at = models.DateTimeField(_("exported at"), auto_now_add=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
                                   related_name="+")

    class Meta:
        verbose_name = _("direct-debit file")
        verbose_name_plural = _("direct-debit files")
        ordering = ["-created_at"]
        constraints = [models.UniqueConstraint(fields=["organisation", "message_id"], name="debit_file_msgid")]

    def __str__(self) -> str:
        return self.message_id

    @property
    def control_sum(self) -> Money:
        return Money(self.control_sum_minor, self.currency)


class DirectDebit(models.Model):
    """One collection from one mandate for one receivable line, from scheduling to the bank's last word.

    SCHEDULED (pre-notified, waiting for its file) → EXPORTED (in a frozen
    file; booked 5113 / 411 and lettered with the invoice) → SETTLED (the
    collection date passed; 512 / 5113) or REJECTED / RETURNED / REFUNDED
    (an R-transaction: reversing entry, invoice open again). CANCELLED only
    before export. At most one debit of a line is scheduled or exported at
    any moment: a database constraint, so two runs cannot both collect it.
    """

    class Status(models.TextChoices):
        SCHEDULED = "scheduled", _("Scheduled")
        EXPORTED = "exported", _("Sent to the bank")
        SETTLED = "settled", _("Collected")
        REJECTED = "rejected", _("Rejected by the bank")
        RETURNED = "returned", _("Returned by the bank")
        REFUNDED = "refunded", _("Refunded to the debtor")
        CANCELLED = "cancelled", _("Cancelled")

    IN_FLIGHT = (Status.SCHEDULED, Status.EXPORTED)

    organisation = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="direct_debits")
    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="direct_debits",
                                 verbose_name=_("customer"))
    mandate = models.ForeignKey(Mandate, on_delete=models.PROTECT, related_name="direct_debits",
                                verbose_name=_("mandate"))
    creditor_account = models.ForeignKey(CreditorAccount, on_delete=models.PROTECT, related_name="debits",
                                         verbose_name=_("bank account"), db_index=False)  # never searched by: no index
    invoice = models.ForeignKey(Invoice, null=True, blank=True, on_delete=models.PROTECT,
                                related_name="direct_debits", verbose_name=_("invoice"))
    line = models.ForeignKey(EntryLine, on_delete=models.PROTECT, related_name="direct_debits")  # receivable
    amount_minor = models.BigIntegerField(_("amount"))
    currency = models.CharField(max_length=3)
    end_to_end_id = models.CharField(_("end-to-end id"), max_length=35, unique=True)
    sequence_type = models.CharField(_("sequence type"), max_length=4, choices=SequenceType)
    collection_date = models.DateField(_("collection date"))
    status = models.CharField(_("status"), max_length=16, choices=Status, default=Status.SCHEDULED)
    amendment = models.JSONField(default=dict, blank=True)  # original IBAN / reference told with this debit
    prenotified_at = models.DateTimeField(_("pre-notified at"), null=True, blank=True)
    file = models.ForeignKey(DebitFile, null=True, blank=True, on_delete=models.PROTECT, related_name="debits",
                             verbose_name=_("file"))
    payment_line = models.OneToOneField(EntryLine, null=True, blank=True, on_delete=models.PROTECT,
                                        related_name="+")  # its 411 credit in the file's entry
    represents = models.ForeignKey("self", null=True, blank=True, on_delete=models.PROTECT,
                                   related_name="representations", verbose_name=_("re-presentation of"))
    reason_code = models.CharField(_("reason code"), max_length=8, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
                                   related_name="+", db_index=False)  # never searched by: no index

    class Meta:
        verbose_name = _("direct debit")
        verbose_name_plural = _("direct debits")
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(condition=Q(amount_minor__gt=0), name="direct_debit_positive"),
            models.UniqueConstraint(fields=["line"], condition=Q(status__in=["scheduled", "exported"]),
                                    name="one_direct_debit_in_flight_per_line"),
        ]

    def __str__(self) -> str:
        return f"{self.end_to_end_id} {self.amount}"

    @property
    def amount(self) -> Money:
        return Money(self.amount_minor, self.currency)


class BankFile(models.Model):
    """A file the bank sent back (pain.002 rejects, camt.054 returns), kept as received, imported once."""

    class Kind(models.TextChoices):
        PAIN_002 = "pain.002", _("Payment status report (pain.002)")
        CAMT_054 = "camt.054", _("Debit/credit notification (camt.054)")

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organisation = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="bank_files")
    kind = models.CharField(_("kind"), max_length=16, choices=Kind)
    name = models.CharField(_("file name"), max_length=255, blank=True)
    message_id = models.CharField(_("message id"), max_length=35, blank=True)
    sha256 = models.CharField(max_length=64)
    content = models.FileField(_("file"), upload_to="sepa/in/%Y/%m/")
    report = models.JSONField(default=dict, blank=True)  # applied, already known, unmatched, with reasons
    imported_at = models.DateTimeField(_("imported at"), auto_now_add=True)
    imported_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
                                    related_name="+")

    class Meta:
        verbose_name = _("bank file")
        verbose_name_plural = _("bank files")
        ordering = ["-imported_at"]
        constraints = [models.UniqueConstraint(fields=["organisation", "sha256"], name="bank_file_once")]

    def __str__(self) -> str:
        return self.name or self.message_id or str(self.pk)


class RTransaction(models.Model):
    """What the bank said went wrong with one direct debit: a reject, a return or a refund, applied once."""

    class Kind(models.TextChoices):
        REJECT = "reject", _("Reject (before settlement)")
        RETURN = "return", _("Return (after settlement)")
        REFUND = "refund", _("Refund to the debtor")

    organisation = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="r_transactions")
    direct_debit = models.OneToOneField(DirectDebit, on_delete=models.PROTECT, related_name="r_transaction",
                                        verbose_name=_("direct debit"))
    bank_file = models.ForeignKey(BankFile, on_delete=models.PROTECT, related_name="r_transactions",
                                  verbose_name=_("bank file"))
    kind = models.CharField(_("kind"), max_length=8, choices=Kind)
    reason_code = models.CharField(_("reason code"), max_length=8)
    amount_minor = models.BigIntegerField(_("amount"))
    fee_minor = models.BigIntegerField(_("bank fee"), default=0)
    currency = models.CharField(max_length=3)
    booked_on = models.DateField(_("booked on"))
    entry = models.OneToOneField(Entry, on_delete=models.PROTECT, related_name="+")
    fee_entry = models.OneToOneField(Entry, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("R-transaction")
        verbose_name_plural = _("R-transactions")
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.reason_code}"
