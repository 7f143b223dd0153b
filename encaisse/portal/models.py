"""What the portal keeps to let customers in: one-time sign-in links, sign-in attempts, optional passwords.

No secret is stored in clear: a link's token and a password are kept as
hashes only, so a copy of the database lets nobody sign in.
"""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _

from encaisse.parties.models import Customer


class SignInLink(models.Model):
    """A link sent to an address (or made by staff for one customer): valid until `expires_at`, used once."""

    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    email = models.EmailField(_("email"), blank=True)
    customers = models.ManyToManyField(Customer, related_name="+", verbose_name=_("customers"))
    created_at = models.DateTimeField(_("created at"))
    expires_at = models.DateTimeField(_("expires at"))
    used_at = models.DateTimeField(_("used at"), null=True, blank=True)
    requested_from = models.GenericIPAddressField(_("requested from"), null=True, blank=True)

    class Meta:
        verbose_name = _("portal sign-in link")
        verbose_name_plural = _("portal sign-in links")

    def __str__(self) -> str:
        return f"{self.email or '-'} {self.created_at:%Y-%m-%d %H:%M}"


class SignInAttempt(models.Model):
    """One link request or password try: what the rate limits count, per address and per IP."""

    class Kind(models.TextChoices):
        LINK = "link", _("link requested")
        PASSWORD = "password", _("password")

    kind = models.CharField(max_length=10, choices=Kind.choices)
    email = models.CharField(max_length=254, db_index=True)  # lower-cased
    ip = models.GenericIPAddressField(null=True, blank=True, db_index=True)
    at = models.DateTimeField(db_index=True)
    succeeded = models.BooleanField(default=False)

    class Meta:
        verbose_name = _("portal sign-in attempt")
        verbose_name_plural = _("portal sign-in attempts")

    def __str__(self) -> str:
        return f"{self.kind} {self.email} {self.at:%Y-%m-%d %H:%M}"


class PortalPassword(models.Model):
    """A password a customer chose in the portal (Django's hashers), kept apart from the Customer record."""

    customer = models.OneToOneField(Customer, on_delete=models.CASCADE, related_name="portal_password")
    password = models.CharField(max_length=255)
    set_at = models.DateTimeField()

    class Meta:
        verbose_name = _("portal password")
        verbose_name_plural = _("portal passwords")

    def __str__(self) -> str:
        return str(self.customer)
