"""Signing customers in to the portal: one-time links by email, optional passwords, rate limits.

A link is a random token sent by email; only its SHA-256 is stored, it works
once and for LINK_MINUTES. Asking for a link never tells whether the address
is known (no account enumeration): an unknown address gets the same answer
and no email. Link requests and failed passwords are counted per address and
per IP in the database (no cache needed, so every process sees the same
counts); over the limit the request is refused before anything is sent.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.hashers import check_password, make_password
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Count, Q, QuerySet
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from encaisse.core.audit import record_event
from encaisse.core.errors import DomainError
from encaisse.notifications.errors import NoRecipient
from encaisse.notifications.services import queue_email
from encaisse.parties.models import Customer

from .models import PortalPassword, SignInAttempt, SignInLink

LINK_MINUTES = 15
WINDOW = timedelta(minutes=15)
MAX_PER_ADDRESS = 5
MAX_PER_IP = 20


class TooManyAttempts(DomainError):
    code = "too_many_attempts"
    message = _("Too many sign-in attempts. Please wait %(minutes)s minutes and try again.")


class InvalidSignInLink(DomainError):
    code = "invalid_sign_in_link"
    message = _("This sign-in link has expired or was already used. Ask for a new one.")


class WrongPassword(DomainError):
    code = "wrong_password"
    message = _("This email address and password do not match.")


class WeakPassword(DomainError):
    code = "weak_password"
    message = _("This password cannot be used: %(reasons)s")


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _normalise(email: str) -> str:
    return " ".join(email.split()).lower()


def customers_for_email(email: str) -> list[Customer]:
    """Every customer, in any organisation, whose main or other emails include this address (any case)."""
    wanted = _normalise(email)
    if not wanted:
        return []
    found = Customer.objects.filter(Q(email__iexact=wanted) | Q(other_emails__icontains=wanted))
    return [c for c in found.select_related("organisation").order_by("organisation__name", "name", "pk")
            if wanted in (e.lower() for e in c.emails)]


# Counted: every link request and every failed password (a success is not held against anyone).
_COUNTED = Q(kind=SignInAttempt.Kind.LINK) | Q(kind=SignInAttempt.Kind.PASSWORD, succeeded=False)


def _check_rate(email: str, ip: str | None, now: datetime) -> None:
    """Refuse when the address or the IP already made its share of counted attempts in the window (one query)."""
    by_address, by_ip = Q(email=email), Q(ip=ip)
    counts = SignInAttempt.objects.filter(_COUNTED, by_address | by_ip, at__gt=now - WINDOW).aggregate(
        address=Count("pk", filter=by_address), ip=Count("pk", filter=by_ip))
    if counts["address"] >= MAX_PER_ADDRESS or (ip and counts["ip"] >= MAX_PER_IP):
        raise TooManyAttempts(minutes=int(WINDOW.total_seconds() // 60))


def _new_link(customers: list[Customer], *, email: str, ip: str | None, now: datetime,
              base_url: str | None) -> str:
    token = secrets.token_urlsafe(32)
    link = SignInLink.objects.create(token_hash=_hash(token), email=email, created_at=now,
                                     expires_at=now + timedelta(minutes=LINK_MINUTES), requested_from=ip)
    link.customers.set(customers)
    base = (base_url or settings.ENCAISSE_BASE_URL).rstrip("/")
    return base + reverse("portal:sign_in_link", args=[token])


def _send(customer: Customer, url: str, *, to: str, organisation: Any) -> None:
    queue_email(organisation=organisation, template_code="portal_sign_in", to=to, language=customer.language,
                context={"customer_name": customer.name, "sign_in_url": url, "minutes": LINK_MINUTES})


def request_sign_in_link(email: str, ip: str | None, base_url: str | None = None,
                         now: datetime | None = None) -> None:
    """Email a sign-in link to this address if customers use it; the same silence when none does.

    Raises TooManyAttempts (nothing sent, nothing counted) over the limits.
    """
    now = now or timezone.now()
    address = _normalise(email)
    _check_rate(address, ip, now)
    SignInAttempt.objects.create(kind=SignInAttempt.Kind.LINK, email=address, ip=ip, at=now)
    customers = customers_for_email(address)
    if not customers:
        return
    organisations = {c.organisation_id for c in customers}
    # One organisation: the email comes from it; several: from the platform, naming none of them.
    organisation = customers[0].organisation if len(organisations) == 1 else None
    with transaction.atomic():
        url = _new_link(customers, email=address, ip=ip, now=now, base_url=base_url)
        _send(customers[0], url, to=address, organisation=organisation)


def use_sign_in_link(token: str, now: datetime | None = None) -> list[Customer]:
    """The customers a link opens, marking it used; InvalidSignInLink if unknown, expired or used before."""
    now = now or timezone.now()
    # One UPDATE decides: of two simultaneous uses, only one finds used_at empty.
    if not _usable(token, now).update(used_at=now):
        raise InvalidSignInLink()
    link = SignInLink.objects.get(token_hash=_hash(token))
    return list(link.customers.select_related("organisation").order_by("organisation__name", "name", "pk"))


def link_is_usable(token: str, now: datetime | None = None) -> bool:
    """Whether the link would open something now, without using it (the page before the button)."""
    return _usable(token, now or timezone.now()).exists()


def _usable(token: str, now: datetime) -> QuerySet[SignInLink]:
    return SignInLink.objects.filter(token_hash=_hash(token), used_at__isnull=True, expires_at__gt=now)


def create_sign_in_link(customer: Customer, by: Any, base_url: str | None = None,
                        now: datetime | None = None) -> str:
    """A fresh link opening this one customer, for staff to hand over (audited; no email sent)."""
    now = now or timezone.now()
    with transaction.atomic():
        url = _new_link([customer], email=customer.email, ip=None, now=now, base_url=base_url)
        record_event(customer, "portal_link_created", by=by)
    return url


def email_sign_in_link(customer: Customer, by: Any, base_url: str | None = None) -> str:
    """Email a fresh link to the customer's address (audited); NoRecipient when the customer has none."""
    if not customer.email:
        raise NoRecipient(code="portal_sign_in")
    now = timezone.now()
    with transaction.atomic():
        url = _new_link([customer], email=customer.email, ip=None, now=now, base_url=base_url)
        _send(customer, url, to=customer.email, organisation=customer.organisation)
        record_event(customer, "portal_link_sent", by=by, data={"to": customer.email})
    return url


def set_password(customer: Customer, password: str) -> None:
    """Let the customer sign in with this password from now on (validated like staff passwords)."""
    try:
        validate_password(password)
    except ValidationError as error:
        raise WeakPassword(reasons=" ".join(error.messages)) from error
    PortalPassword.objects.update_or_create(
        customer=customer, defaults={"password": make_password(password), "set_at": timezone.now()})


def sign_in_with_password(email: str, password: str, ip: str | None,
                          now: datetime | None = None) -> list[Customer]:
    """The customers of this address whose password this is; WrongPassword (counted) or TooManyAttempts."""
    now = now or timezone.now()
    address = _normalise(email)
    _check_rate(address, ip, now)
    customers = customers_for_email(address) if password else []
    hashes = dict(PortalPassword.objects.filter(customer__in=customers).values_list("customer_id", "password"))
    opened = [c for c in customers if c.pk in hashes and check_password(password, hashes[c.pk])]
    if not hashes:
        make_password(password)  # as slow as a real check: the answer's delay does not reveal the address
    SignInAttempt.objects.create(kind=SignInAttempt.Kind.PASSWORD, email=address, ip=ip, at=now,
                                 succeeded=bool(opened))
    if not opened:
        raise WrongPassword()
    return opened
