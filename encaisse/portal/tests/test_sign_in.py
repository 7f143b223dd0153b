"""Signing in to the portal: one-time links by email, passwords, rate limits, several accounts, sign-out."""

import os
import re
import subprocess
import sys
import time
from datetime import timedelta

import pytest
from django.conf import settings
from django.urls import reverse
from django.utils import timezone

from encaisse.notifications.models import OutboxMessage
from encaisse.onboarding.organisations import create_organisation
from encaisse.parties.models import Customer
from encaisse.portal import auth
from encaisse.portal.access import SESSION_SEEN
from encaisse.portal.models import PortalPassword, SignInLink
from encaisse.portal.tests.helpers import sign_in_as

SIGN_IN = "/portal/sign-in/"


def ask_link(client, email="jeanne@example.org", ip="10.0.0.1"):
    return client.post(SIGN_IN, {"action": "link", "email": email}, REMOTE_ADDR=ip)


def emailed_link(to="jeanne@example.org") -> str:
    message = OutboxMessage.objects.filter(template_code="portal_sign_in", to=to).latest("pk")
    return re.search(r"https?://\S+/portal/sign-in/link/\S+/", message.body_text).group(0)


def path_of(url: str) -> str:
    return url.removeprefix(settings.ENCAISSE_BASE_URL.rstrip("/"))


@pytest.mark.django_db
def test_a_customer_asks_for_a_link_opens_it_and_sees_their_account(client, customer):
    page = ask_link(client, "  JEANNE@Example.org ")

    assert page.status_code == 200
    assert "If this address is known, a sign-in link is on its way" in page.content.decode()
    message = OutboxMessage.objects.get(template_code="portal_sign_in")
    assert (message.to, message.language) == ("jeanne@example.org", "fr")
    assert message.organisation_id == customer.organisation_id
    link = emailed_link()
    assert link.startswith(settings.ENCAISSE_BASE_URL)
    token = link.rstrip("/").rsplit("/", 1)[1]
    assert not SignInLink.objects.filter(token_hash=token).exists()  # only its hash is kept

    assert client.get(path_of(link)).status_code == 200  # a mail scanner's GET uses nothing
    opened = client.post(path_of(link))

    assert opened.status_code == 302
    assert opened["Location"] == reverse("portal:home")
    home = client.get(reverse("portal:home"))
    assert home.status_code == 200
    assert "Jeanne Martin" in home.content.decode()


@pytest.mark.django_db
def test_the_other_emails_of_a_customer_also_receive_a_link(client, customer):
    customer.other_emails = "compta@example.org, jm@example.org"
    customer.save()

    ask_link(client, "jm@example.org")

    assert OutboxMessage.objects.get(template_code="portal_sign_in").to == "jm@example.org"


@pytest.mark.django_db
def test_a_link_works_once(client, customer):
    ask_link(client)
    link = path_of(emailed_link())
    client.post(link)
    other = client.__class__()

    again = other.post(link)

    assert again.status_code == 410
    # The link's page speaks the customer's language (French here), whatever the browser asks.
    assert "a expiré ou a déjà été utilisé" in again.content.decode()
    assert other.get(reverse("portal:home")).status_code == 302


@pytest.mark.django_db
def test_an_expired_link_is_refused_and_signs_nobody_in(client, customer):
    url = auth.create_sign_in_link(customer, by=None, now=timezone.now() - timedelta(minutes=16))

    assert client.get(path_of(url)).status_code == 410
    refused = client.post(path_of(url))

    assert refused.status_code == 410
    assert client.get(reverse("portal:home")).status_code == 302
    with pytest.raises(auth.InvalidSignInLink):
        auth.use_sign_in_link("not-a-token")


@pytest.mark.django_db
def test_a_link_still_works_just_before_fifteen_minutes(customer):
    url = auth.create_sign_in_link(customer, by=None)
    token = url.rstrip("/").rsplit("/", 1)[1]

    assert auth.use_sign_in_link(token, now=timezone.now() + timedelta(minutes=14, seconds=50)) == [customer]


@pytest.mark.django_db
def test_an_unknown_address_gets_the_same_answer_and_no_email(client, customer):
    page = ask_link(client, "nobody@example.org")

    assert page.status_code == 200
    assert "If this address is known, a sign-in link is on its way" in page.content.decode()
    assert not OutboxMessage.objects.exists()
    assert not SignInLink.objects.exists()


@pytest.mark.django_db
def test_link_requests_are_limited_per_address(client, customer):
    for _ in range(auth.MAX_PER_ADDRESS):
        assert ask_link(client).status_code == 200

    refused = ask_link(client, "Jeanne@example.org", ip="10.9.9.9")

    assert refused.status_code == 429
    assert "Too many sign-in attempts" in refused.content.decode()
    assert OutboxMessage.objects.filter(template_code="portal_sign_in").count() == auth.MAX_PER_ADDRESS
    assert ask_link(client, "other@example.org").status_code == 200  # other addresses are not held up


@pytest.mark.django_db
def test_link_requests_are_limited_per_ip(client, customer):
    for n in range(auth.MAX_PER_IP):
        assert ask_link(client, f"someone{n}@example.org").status_code == 200

    refused = ask_link(client)

    assert refused.status_code == 429
    assert not OutboxMessage.objects.exists()
    assert ask_link(client, ip="10.0.0.2").status_code == 200


@pytest.mark.django_db
def test_the_limit_forgets_attempts_older_than_fifteen_minutes(customer):
    long_ago = timezone.now() - timedelta(minutes=16)
    for _ in range(auth.MAX_PER_ADDRESS):
        auth.request_sign_in_link("jeanne@example.org", "10.0.0.1", now=long_ago)

    auth.request_sign_in_link("jeanne@example.org", "10.0.0.1")

    assert OutboxMessage.objects.count() == auth.MAX_PER_ADDRESS + 1


@pytest.mark.django_db
def test_an_address_of_two_organisations_chooses_which_account_to_open(client, customer):
    mairie = create_organisation(name="Mairie de Bourg", slug="bourg", by=None)
    cantine = Customer.objects.create(organisation=mairie, ref="B-1", name="Famille Martin",
                                      email="Jeanne@example.org", language="en")
    Customer.objects.create(organisation=mairie, ref="B-2", name="Someone else", email="else@example.org")
    ask_link(client)
    message = OutboxMessage.objects.get(template_code="portal_sign_in")
    assert message.organisation_id is None  # the email names neither organisation

    to_choose = client.post(path_of(emailed_link()))

    assert to_choose["Location"] == reverse("portal:choose")
    assert client.get(reverse("portal:home")).status_code == 302  # nobody signed in before the choice
    page = client.get(reverse("portal:choose")).content.decode()
    assert "Pressing du Centre — Jeanne Martin" in page
    assert "Mairie de Bourg — Famille Martin" in page
    assert "Someone else" not in page
    other = Customer.objects.get(ref="B-2")
    assert client.post(reverse("portal:choose"), {"customer": other.pk}).status_code == 404

    chosen = client.post(reverse("portal:choose"), {"customer": cantine.pk})

    assert chosen["Location"] == reverse("portal:home")
    assert "Famille Martin" in client.get(reverse("portal:home")).content.decode()


@pytest.mark.django_db
def test_the_session_id_changes_at_sign_in(client, customer):
    client.get(SIGN_IN)
    ask_link(client)
    before = client.session.session_key
    assert before

    client.post(path_of(emailed_link()))

    assert client.session.session_key != before


@pytest.mark.django_db
def test_sign_out_ends_the_session_and_needs_a_post(client, customer):
    sign_in_as(client, customer)
    assert client.get(reverse("portal:sign_out")).status_code == 405

    assert client.post(reverse("portal:sign_out"))["Location"] == reverse("portal:sign_in")

    assert client.get(reverse("portal:home")).status_code == 302


@pytest.mark.django_db
def test_an_idle_session_is_signed_out(client, customer):
    sign_in_as(client, customer)
    session = client.session
    session[SESSION_SEEN] = int(time.time()) - 31 * 60
    session.save()

    page = client.get(reverse("portal:home"))

    assert page.status_code == 302
    assert page["Location"].startswith(reverse("portal:sign_in"))


@pytest.mark.django_db
def test_sign_in_forms_are_csrf_protected(customer):
    from django.test import Client

    strict = Client(enforce_csrf_checks=True)

    assert strict.post(SIGN_IN, {"action": "link", "email": "jeanne@example.org"}).status_code == 403
    assert not OutboxMessage.objects.exists()


@pytest.mark.parametrize(("debug", "secure"), [("0", "True"), ("1", "False")])
def test_cookies_are_httponly_lax_and_secure_outside_debug(debug, secure):
    """Read as a server started with ENCAISSE_DEBUG would (the test run itself overrides DEBUG)."""
    code = ("from django.conf import settings as s; print(s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, "
            "s.SESSION_COOKIE_HTTPONLY, s.SESSION_COOKIE_SAMESITE, s.CSRF_COOKIE_SAMESITE)")
    env = {**os.environ, "ENCAISSE_DEBUG": debug, "DJANGO_SETTINGS_MODULE": "encaisse.config.settings"}

    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout

    assert out.split() == [secure, secure, "True", "Lax", "Lax"]


@pytest.mark.django_db
def test_a_customer_sets_a_password_then_signs_in_with_it(client, customer):
    sign_in_as(client, customer)
    differ = client.post(reverse("portal:password"), {"password": "Lavande-2026!", "confirm": "Lavande-2026"})
    assert differ.status_code == 400
    weak = client.post(reverse("portal:password"), {"password": "1234", "confirm": "1234"})
    assert weak.status_code == 400
    assert not PortalPassword.objects.exists()

    done = client.post(reverse("portal:password"), {"password": "Lavande-2026!", "confirm": "Lavande-2026!"})

    assert done.status_code == 200
    stored = PortalPassword.objects.get(customer=customer).password
    assert "Lavande" not in stored
    assert stored.startswith(("pbkdf2", "argon2", "bcrypt", "scrypt", "md5"))
    client.post(reverse("portal:sign_out"))
    signed = client.post(SIGN_IN, {"action": "password", "email": "jeanne@example.org",
                                   "password": "Lavande-2026!", "next": "/portal/?tab=1"})
    assert signed["Location"] == "/portal/?tab=1"
    assert "Jeanne Martin" in client.get(reverse("portal:home")).content.decode()


@pytest.mark.django_db
def test_a_wrong_password_is_refused_counted_and_limited(client, customer):
    auth.set_password(customer, "Lavande-2026!")

    wrong = client.post(SIGN_IN, {"action": "password", "email": "jeanne@example.org", "password": "nope"})

    assert wrong.status_code == 400
    assert "do not match" in wrong.content.decode()
    assert client.get(reverse("portal:home")).status_code == 302
    for _ in range(auth.MAX_PER_ADDRESS - 1):
        client.post(SIGN_IN, {"action": "password", "email": "jeanne@example.org", "password": "nope"})
    limited = client.post(SIGN_IN, {"action": "password", "email": "jeanne@example.org",
                                    "password": "Lavande-2026!"})
    assert limited.status_code == 429
    assert client.get(reverse("portal:home")).status_code == 302


@pytest.mark.django_db
def test_an_unsafe_next_address_is_ignored(client, customer):
    auth.set_password(customer, "Lavande-2026!")

    signed = client.post(SIGN_IN, {"action": "password", "email": "jeanne@example.org",
                                   "password": "Lavande-2026!", "next": "https://evil.example/"})

    assert signed["Location"] == reverse("portal:home")
