"""SEPA mandates: the debtor's authorisation to collect from their account."""

from django.core.exceptions import ValidationError
from django.db import models
from django.utils.translation import gettext_lazy as _
from schwifty import BIC, IBAN
from schwifty.exceptions import SchwiftyException

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
