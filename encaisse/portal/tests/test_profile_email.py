"""The profile's "Receive my invoices by email" box, saved through set_invoices_by_email; the password link."""

import pytest
from django.urls import reverse

from encaisse.core.audit import AuditEvent
from encaisse.parties.models import Customer

from .helpers import sign_in_as


def details(**changes: str) -> dict[str, str]:
    form = {"email": "jeanne@example.org", "phone": "", "address_line1": "", "address_line2": "", "postcode": "",
            "city": "", "country": "FR", "language": "fr"}
    return {**form, **changes}


@pytest.mark.django_db
def test_the_profile_offers_the_box_with_its_explanation_and_the_password_page(client, customer):
    page = sign_in_as(client, customer).get("/portal/profile/").content.decode()

    assert '<input type="checkbox" name="invoices_by_email"' in page
    assert '<label for="id_invoices_by_email">Receive my invoices by email</label>' in page
    assert "as soon as it is issued, with a link to pay it online" in page
    assert f'<a href="{reverse("portal:password")}">Set or change your password</a>' in page


@pytest.mark.django_db
def test_ticking_the_box_turns_it_on_from_now_with_an_audit_event_and_unticking_turns_it_off(
        client, customer, neighbour):
    sign_in_as(client, customer)

    response = client.post("/portal/profile/", details(invoices_by_email="on"))

    stored = Customer.objects.get(pk=customer.pk)
    assert response.status_code == 302
    assert stored.invoices_by_email is True
    assert stored.invoices_by_email_since is not None
    assert AuditEvent.objects.filter(verb="invoices_by_email_on", object_id=str(customer.pk)).count() == 1
    assert not AuditEvent.objects.filter(verb="portal_profile_updated").exists()  # no contact detail changed
    page = client.get("/portal/profile/").content.decode()
    assert "Your details were saved." in page
    assert '<input type="checkbox" name="invoices_by_email"' in page
    assert "checked" in page.split('name="invoices_by_email"')[1].split(">")[0]
    assert Customer.objects.get(pk=neighbour.pk).invoices_by_email is False  # another customer: untouched

    client.post("/portal/profile/", details())  # the box left unticked

    stored = Customer.objects.get(pk=customer.pk)
    assert (stored.invoices_by_email, stored.invoices_by_email_since) == (False, None)
    assert AuditEvent.objects.filter(verb="invoices_by_email_off", object_id=str(customer.pk)).count() == 1


@pytest.mark.django_db
def test_saving_again_with_the_box_ticked_keeps_the_first_date(client, customer):
    sign_in_as(client, customer)
    client.post("/portal/profile/", details(invoices_by_email="on"))
    since = Customer.objects.get(pk=customer.pk).invoices_by_email_since

    response = client.post("/portal/profile/", details(invoices_by_email="on", city="Lyon"))

    stored = Customer.objects.get(pk=customer.pk)
    assert response.status_code == 302
    assert (stored.city, stored.invoices_by_email_since) == ("Lyon", since)
    assert AuditEvent.objects.filter(verb="invoices_by_email_on").count() == 1


@pytest.mark.django_db
def test_ticking_it_without_an_email_address_is_refused_and_nothing_is_saved(client, customer):
    sign_in_as(client, customer)

    response = client.post("/portal/profile/", details(email="", city="Lyon", invoices_by_email="on"))

    stored = Customer.objects.get(pk=customer.pk)
    assert response.status_code == 400
    assert '<span role="alert">Enter your email address to receive your invoices by email.</span>' in (
        response.content.decode())
    assert (stored.email, stored.city, stored.invoices_by_email) == ("jeanne@example.org", "", False)
    assert not AuditEvent.objects.filter(verb__in=["portal_profile_updated", "invoices_by_email_on"]).exists()
