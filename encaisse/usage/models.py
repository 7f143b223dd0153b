"""Partners, the format of their monthly files, service mappings, and import batches.

An import is one file for one partner and month, written in one transaction
with its content hash and its report: the same file twice changes nothing,
and a corrected file replaces the lines of the earlier import of that partner
and month while the manager's own lines stay.
"""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from encaisse.invoicing.models import InvoiceType, Product
from encaisse.parties.models import Organisation

# The fields a usage row can carry; `columns` maps each to a header name or a 1-based position.
USAGE_FIELDS = ("customer", "service", "quantity", "unit_price", "date", "label", "comment")
REQUIRED_FIELDS = ("customer", "service", "quantity")


class Partner(models.Model):
    class PriceSource(models.TextChoices):
        CATALOGUE = "catalogue", _("The catalogue price wins")
        FILE = "file", _("The file's price wins")

    class UnknownService(models.TextChoices):
        REJECT = "reject", _("Reject the line")
        FROM_FILE = "from_file", _("Take label and price from the file")

    organisation = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="partners")
    code = models.SlugField(_("code"), max_length=32)
    name = models.CharField(_("name"), max_length=120)
    invoice_type = models.ForeignKey(InvoiceType, on_delete=models.PROTECT, verbose_name=_("invoice type"))
    active = models.BooleanField(_("active"), default=True)
    # The file format. Empty values mean "not declared yet": detected from each file.
    format_confirmed = models.BooleanField(
        _("format confirmed"), default=False,
        help_text=_("Unconfirmed formats are detected from each file and shown for confirmation."))
    file_kind = models.CharField(_("file kind"), max_length=8, choices=[("csv", "CSV"), ("xlsx", "XLSX")],
                                 blank=True)
    encoding = models.CharField(_("encoding"), max_length=16, blank=True,
                                choices=[("utf-8", "UTF-8"), ("utf-8-sig", _("UTF-8 with BOM")),
                                         ("cp1252", "Windows-1252")])
    separator = models.CharField(_("separator"), max_length=1, blank=True,
                                 choices=[(";", ";"), (",", ","), ("\t", _("tab"))])
    decimal_comma = models.BooleanField(_("decimal comma"), null=True, blank=True)
    date_format = models.CharField(_("date format"), max_length=16, blank=True, help_text="%d/%m/%Y, %Y-%m-%d…")
    has_header = models.BooleanField(_("first line is a header"), default=True)
    columns = models.JSONField(
        _("columns"), default=dict, blank=True,
        help_text=_("Field → header name or 1-based position, for customer, service, quantity, unit_price, "
                    "date, label, comment."))
    price_source = models.CharField(_("price"), max_length=16, choices=PriceSource, default=PriceSource.FILE)
    unknown_service = models.CharField(_("unknown service code"), max_length=16, choices=UnknownService,
                                       default=UnknownService.REJECT)
    repeated_lines_allowed = models.BooleanField(
        _("repeated lines are legitimate"), default=False,
        help_text=_("When off, a line repeated within a file is reported as a duplicate and billed once."))
    max_line_amount_minor = models.BigIntegerField(
        _("largest line amount (minor units)"), default=10_000_000,
        help_text=_("A line above this amount is rejected as too large."))

    class Meta:
        verbose_name = _("partner")
        verbose_name_plural = _("partners")
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["organisation", "code"], name="partner_code_unique")]

    def __str__(self) -> str:
        return self.name


class ServiceMapping(models.Model):
    """A partner's service code and the product it is billed as."""

    partner = models.ForeignKey(Partner, on_delete=models.CASCADE, related_name="mappings")
    service_code = models.CharField(_("partner's service code"), max_length=64)
    product = models.ForeignKey(Product, on_delete=models.PROTECT, verbose_name=_("product"))

    class Meta:
        verbose_name = _("service mapping")
        verbose_name_plural = _("service mappings")
        constraints = [models.UniqueConstraint(fields=["partner", "service_code"], name="mapping_unique")]

    def __str__(self) -> str:
        return f"{self.service_code} → {self.product}"


class UsageImport(models.Model):
    class Status(models.TextChoices):
        RUNNING = "running", _("Running")
        SUCCEEDED = "succeeded", _("Imported")
        REFUSED = "refused", _("Refused")
        DRY_RUN = "dry_run", _("Dry run")

    organisation = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="usage_imports")
    partner = models.ForeignKey(Partner, on_delete=models.PROTECT, related_name="imports")
    period = models.DateField(_("month"), help_text=_("First day of the month billed."))
    status = models.CharField(_("status"), max_length=16, choices=Status, default=Status.RUNNING)
    content_hash = models.CharField(_("SHA-256 of the file"), max_length=64)
    filename = models.CharField(_("file name"), max_length=255)
    original = models.FileField(_("original file"), upload_to="usage/%Y/%m/", blank=True)
    imported_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
                                    related_name="+", verbose_name=_("imported by"))
    origin = models.CharField(_("origin"), max_length=32, default="system")
    started_at = models.DateTimeField(_("started"), auto_now_add=True)
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)
    lines_read = models.PositiveIntegerField(_("lines read"), default=0)
    lines_accepted = models.PositiveIntegerField(_("lines accepted"), default=0)
    invoices_created = models.PositiveIntegerField(_("invoices created"), default=0)
    invoices_updated = models.PositiveIntegerField(_("invoices updated"), default=0)
    detected_format = models.JSONField(_("format used"), default=dict, blank=True)
    report = models.JSONField(_("report"), default=dict, blank=True)

    class Meta:
        verbose_name = _("usage import")
        verbose_name_plural = _("usage imports")
        ordering = ["-started_at", "-pk"]
        constraints = [
            # The same file for the same partner and month is imported once.
            models.UniqueConstraint(fields=["partner", "period", "content_hash"], condition=Q(status="succeeded"),
                                    name="usage_import_once"),
        ]

    def __str__(self) -> str:
        return f"{self.partner} {self.period:%Y-%m} ({self.filename})"

    @property
    def source_key(self) -> str:
        return source_key(self.partner_id, self.period)


def source_key(partner_id: int, period) -> str:
    """What invoice lines of one partner and month carry, so a corrected file replaces exactly them."""
    return f"usage:{partner_id}:{period:%Y-%m}"
