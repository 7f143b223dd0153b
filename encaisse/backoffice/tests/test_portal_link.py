"""Staff hand a customer a portal sign-in link from the customer page: to copy, or emailed; audited, scoped."""

import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse

from encaisse.core.audit import events_for
from encaisse.notifications.models import OutboxMessage


def url(customer) -> str:
    return reverse("staff:portal_link", args=[customer.pk])


@pytest.mark.django_db
def test_the_customer_page_links_to_the_portal_link_page(staff, customer):
    page = staff.get(reverse("admin:parties_customer_change", args=[customer.pk]))

    assert url(customer) in page.content.decode()


@pytest.mark.django_db
def test_staff_create_a_link_to_copy_that_signs_the_customer_in(staff, customer, clerk):
    assert staff.get(url(customer)).status_code == 200
    assert not events_for(customer).filter(verb="portal_link_created").exists()  # a GET makes no link

    page = staff.post(url(customer), {"action": "create"})

    html = page.content.decode()
    assert page.status_code == 200
    link = page.context["url"]
    assert link.startswith(settings.ENCAISSE_BASE_URL.rstrip("/") + "/portal/sign-in/link/")
    assert link in html
    assert events_for(customer).get(verb="portal_link_created").by == clerk
    assert not OutboxMessage.objects.exists()
    visitor = Client()
    visitor.post(link.removeprefix(settings.ENCAISSE_BASE_URL.rstrip("/")))
    assert "Jeanne Martin" in visitor.get("/portal/").content.decode()


@pytest.mark.django_db
def test_staff_email_a_link_to_the_customer(staff, customer, clerk):
    page = staff.post(url(customer), {"action": "email"})

    assert page.status_code == 200
    message = OutboxMessage.objects.get(template_code="portal_sign_in")
    assert message.to == "jeanne@example.org"
    assert page.context["url"] in message.body_text
    assert events_for(customer).get(verb="portal_link_sent").data == {"to": "jeanne@example.org"}


@pytest.mark.django_db
def test_a_customer_without_email_cannot_be_emailed_a_link(staff, customer):
    customer.email = ""
    customer.save()

    page = staff.post(url(customer), {"action": "email"})

    assert page.status_code == 400
    assert "no email address" in page.content.decode()
    assert not OutboxMessage.objects.exists()
    assert not events_for(customer).filter(verb="portal_link_sent").exists()


@pytest.mark.django_db
def test_another_organisations_customer_is_a_404(staff, other_customer):
    assert staff.get(url(other_customer)).status_code == 404
    assert staff.post(url(other_customer), {"action": "create"}).status_code == 404
    assert not events_for(other_customer).exists()
