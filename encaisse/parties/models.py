"""Organisations (tenants), staff membership, and customers.

Every business row in Encaisse belongs to one organisation; staff see the
organisations they are members of and nothing else. A customer's account is
not a row here: it is the set of ledger lines that carry the customer as party.
"""

from django.conf import settings
from django.core.validators import FileExtensionValidator
from django.db import models
from django.utils.translation import gettext_lazy as _

from encaisse.core.money import check_currency

from .validators import validate_creditor_id, validate_siren, validate_siret, validate_vat

LANGUAGES = [("fr", _("French")), ("en", _("English"))]


def _validate_currency(value: str) -> None:
    from django.core.exceptions import ValidationError

    from encaisse.core.errors import DomainError

    try:
        check_currency(value)
    except DomainError as error:
        raise ValidationError(str(error), code="invalid") from error


class Address(models.Model):
    address_line1 = models.CharField(_("address"), max_length=200, blank=True)
    address_line2 = models.CharField(_("address (continued)"), max_length=200, blank=True)
    postcode = models.CharField(_("postcode"), max_length=20, blank=True)
    city = models.CharField(_("city"), max_length=100, blank=True)
    country = models.CharField(_("country"), max_length=2, default="FR", help_text=_("ISO 3166 code"))

    class Meta:
        abstract = True

    def address_lines(self) -> list[str]:
        town = " ".join(p for p in (self.postcode, self.city) if p)
        return [line for line in (self.address_line1, self.address_line2, town) if line]


class Organisation(Address):
    name = models.CharField(_("name"), max_length=200)
    slug = models.SlugField(_("slug"), max_length=50, unique=True)
    legal_name = models.CharField(_("legal name"), max_length=200, blank=True)
    siren = models.CharField(_("SIREN"), max_length=9, blank=True, validators=[validate_siren])
    siret = models.CharField(_("SIRET"), max_length=14, blank=True, validators=[validate_siret])
    vat_number = models.CharField(_("VAT number"), max_length=20, blank=True, validators=[validate_vat])
    currency = models.CharField(_("currency"), max_length=3, default="EUR", validators=[_validate_currency])
    creditor_id = models.CharField(
        _("SEPA creditor identifier (ICS)"), max_length=35, blank=True, validators=[validate_creditor_id]
    )
    logo = models.FileField(
        _("logo"),
        upload_to="logos/",
        blank=True,
        validators=[FileExtensionValidator(["png", "jpg", "jpeg", "svg"])],
    )
    language = models.CharField(_("language"), max_length=8, choices=LANGUAGES, default="fr")
    default_payment_delay_days = models.PositiveSmallIntegerField(_("default payment delay (days)"), default=30)
    email = models.EmailField(_("contact email"), blank=True)
    staff = models.ManyToManyField(
        settings.AUTH_USER_MODEL, through="Membership", related_name="organisations", blank=True
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("organisation")
        verbose_name_plural = _("organisations")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def display_legal_name(self) -> str:
        return self.legal_name or self.name


class Membership(models.Model):
    """A staff user's access to one organisation."""

    class Role(models.TextChoices):
        MANAGER = "manager", _("Manager")
        CLERK = "clerk", _("Clerk")
        VIEWER = "viewer", _("Viewer")

    organisation = models.ForeignKey(Organisation, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(_("role"), max_length=16, choices=Role, default=Role.MANAGER)

    class Meta:
        verbose_name = _("staff membership")
        verbose_name_plural = _("staff memberships")
        constraints = [models.UniqueConstraint(fields=["organisation", "user"], name="membership_unique")]

    def __str__(self) -> str:
        return f"{self.user} @ {self.organisation}"


class Tag(models.Model):
    organisation = models.ForeignKey(Organisation, on_delete=models.CASCADE, related_name="tags")
    name = models.CharField(_("name"), max_length=50)

    class Meta:
        verbose_name = _("tag")
        verbose_name_plural = _("tags")
        constraints = [models.UniqueConstraint(fields=["organisation", "name"], name="tag_unique")]
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Customer(Address):
    class Kind(models.TextChoices):
        PERSON = "person", _("Person")
        COMPANY = "company", _("Company")

    class CollectBy(models.TextChoices):
        """How the customer chose to be collected automatically; which card or mandate: payments and sepa."""

        NOTHING = "", _("Not collected automatically")
        CARD = "card", _("Default saved card")
        DIRECT_DEBIT = "direct_debit", _("SEPA direct debit")

    organisation = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="customers")
    ref = models.CharField(
        _("customer reference"),
        max_length=64,
        help_text=_("The identifier partners and shops use for this customer."),
    )
    name = models.CharField(_("name"), max_length=200)
    kind = models.CharField(_("kind"), max_length=16, choices=Kind, default=Kind.PERSON)
    email = models.EmailField(_("email"), blank=True)
    other_emails = models.CharField(
        _("other emails"), max_length=500, blank=True, help_text=_("Comma-separated; copied on every email.")
    )
    phone = models.CharField(_("phone"), max_length=32, blank=True)
    language = models.CharField(_("language"), max_length=8, choices=LANGUAGES, default="fr")
    siren = models.CharField(_("SIREN"), max_length=9, blank=True, validators=[validate_siren])
    siret = models.CharField(_("SIRET"), max_length=14, blank=True, validators=[validate_siret])
    vat_number = models.CharField(_("VAT number"), max_length=20, blank=True, validators=[validate_vat])
    payment_delay_days = models.PositiveSmallIntegerField(
        _("payment delay (days)"), null=True, blank=True, help_text=_("Leave empty to use the invoice type's.")
    )
    invoices_by_email = models.BooleanField(
        _("receive invoices by email"), default=False,
        help_text=_("Each invoice is emailed, with its pay link, as soon as it is posted."))
    # Invoices posted before the customer chose email are not sent in a burst when they do.
    invoices_by_email_since = models.DateTimeField(_("invoices by email since"), null=True, blank=True,
                                                   editable=False)
    collect_by = models.CharField(_("automatic collection by"), max_length=16, choices=CollectBy, blank=True,
                                  default=CollectBy.NOTHING)
    tags = models.ManyToManyField(Tag, blank=True, related_name="customers", verbose_name=_("tags"))
    notes = models.TextField(_("notes"), blank=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        verbose_name = _("customer")
        verbose_name_plural = _("customers")
        ordering = ["name", "pk"]
        constraints = [models.UniqueConstraint(fields=["organisation", "ref"], name="customer_ref_unique")]

    def __str__(self) -> str:
        return f"{self.name} ({self.ref})"

    @property
    def emails(self) -> list[str]:
        extra = [e.strip() for e in self.other_emails.split(",") if e.strip()]
        return [e for e in [self.email, *extra] if e]


class ApiKey(models.Model):
    """A secret that lets a partner's or shop's program act for one organisation over the API.

    Only a SHA-256 hash of the secret is stored; the secret is shown once, when
    the key is made. The prefix is stored in clear to find the key and to let
    staff recognise it in lists.
    """

    organisation = models.ForeignKey(Organisation, on_delete=models.CASCADE, related_name="api_keys")
    name = models.CharField(_("name"), max_length=100)
    prefix = models.CharField(_("prefix"), max_length=12, unique=True, editable=False)
    key_hash = models.CharField(max_length=64, editable=False)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+", editable=False)
    last_used_at = models.DateTimeField(_("last used"), null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(_("revoked"), null=True, blank=True, editable=False)

    class Meta:
        verbose_name = _("API key")
        verbose_name_plural = _("API keys")

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"
