"""Setting up an organisation in the back office, and editing it."""

import pytest
from django.urls import reverse

from encaisse.invoicing.models import InvoiceType, Regie, VatRate
from encaisse.ledger.models import Account, Journal
from encaisse.parties.models import Membership, Organisation

NEW_ORGANISATION = {
    "name": "Conciergerie du Port", "slug": "port", "legal_name": "", "email": "", "language": "fr",
    "address_line1": "1 quai Est", "address_line2": "", "postcode": "17000", "city": "La Rochelle",
    "country": "FR", "siren": "732 829 320", "siret": "", "vat_number": "", "creditor_id": "",
    "currency": "eur", "default_payment_delay_days": "15",
}


@pytest.mark.django_db
def test_the_add_form_creates_an_organisation_ready_to_invoice(staff, clerk):
    response = staff.post(reverse("admin:parties_organisation_add"),
                          NEW_ORGANISATION)

    assert response.status_code == 302, response.context["errors"]
    port = Organisation.objects.get(slug="port")
    assert (port.siren, port.currency, port.city, port.default_payment_delay_days) == ("732829320", "EUR",
                                                                                        "La Rochelle", 15)
    accounts = set(Account.objects.filter(organisation=port).values_list("code", flat=True))
    assert {"411", "419", "512", "706", "44571"} <= accounts
    assert {"VE", "BQ"} <= set(Journal.objects.filter(organisation=port).values_list("code", flat=True))
    assert set(VatRate.objects.filter(organisation=port).values_list("code", flat=True)) == {
        "FR20", "FR10", "FR55", "FR21", "EXO"}
    assert Regie.objects.filter(organisation=port, code="PRINCIPALE").exists()
    assert InvoiceType.objects.filter(organisation=port, code="STANDARD").exists()
    assert Membership.objects.get(organisation=port, user=clerk).role == Membership.Role.MANAGER


@pytest.mark.django_db
def test_an_invalid_siren_is_refused_with_the_reason(staff):
    response = staff.post(reverse("admin:parties_organisation_add"), {**NEW_ORGANISATION, "siren": "732829321"})

    assert response.status_code == 200
    assert "is not a valid SIREN" in response.content.decode()
    assert not Organisation.objects.filter(slug="port").exists()


@pytest.mark.django_db
def test_a_manager_edits_the_organisation_but_not_its_slug(staff, org, clerk):
    url = reverse("admin:parties_organisation_change", args=[org.pk])
    staff_inline = {"memberships-TOTAL_FORMS": 1, "memberships-INITIAL_FORMS": 1, "memberships-MIN_NUM_FORMS": 0,
                    "memberships-MAX_NUM_FORMS": 1000, "memberships-0-organisation": org.pk,
                    "memberships-0-id": Membership.objects.get(organisation=org, user=clerk).pk}
    data = {**NEW_ORGANISATION, **staff_inline, "name": org.name, "slug": "stolen",
            "legal_name": "Pressing du Centre SARL", "vat_number": "FR 40 303 265 045",
            "default_payment_delay_days": "45"}

    response = staff.post(url, data)

    assert response.status_code == 302, response.context["errors"]
    org.refresh_from_db()
    assert org.legal_name == "Pressing du Centre SARL"
    assert org.vat_number == "FR40303265045"
    assert org.default_payment_delay_days == 45
    assert org.slug == "pressing"


@pytest.mark.django_db
def test_a_clerk_sees_the_organisation_but_cannot_change_it(client, org, clerk):
    Membership.objects.filter(organisation=org, user=clerk).update(role=Membership.Role.CLERK)
    client.force_login(clerk)
    url = reverse("admin:parties_organisation_change", args=[org.pk])

    page = client.get(url)
    response = client.post(url, {**NEW_ORGANISATION, "name": "Renamed"})

    assert page.status_code == 200
    assert 'name="legal_name"' not in page.content.decode()
    assert response.status_code == 403
    org.refresh_from_db()
    assert org.name == "Pressing du Centre"
