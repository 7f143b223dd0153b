"""Staff see and touch only their own organisations' records; another organisation's id answers 404."""

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse

from encaisse.invoicing.models import Invoice
from encaisse.invoicing.services import post_invoice
from encaisse.invoicing.tests.factories import draft_invoice
from encaisse.parties.models import Customer, Membership, Tag

from .conftest import JANUARY_10


@pytest.mark.django_db
def test_lists_show_only_the_staff_members_organisation(staff, customer, other_customer, other_invoice):
    invoice = draft_invoice(customer.organisation, customer, ("Pressing chemise", "3", "4.50"))

    customers = staff.get(reverse("admin:parties_customer_changelist")).content.decode()
    invoices = staff.get(reverse("admin:invoicing_invoice_changelist")).content.decode()
    entries = staff.get(reverse("admin:ledger_entry_changelist")).content.decode()

    assert "Jeanne Martin" in customers
    assert "Paul Secret" not in customers
    assert invoice.display_name in invoices
    assert other_invoice.number not in invoices
    assert "Paul Secret" not in invoices
    assert other_invoice.number not in entries


@pytest.mark.django_db
def test_another_organisations_records_answer_404(staff, other_customer, other_invoice):
    urls = [
        reverse("admin:parties_customer_change", args=[other_customer.pk]),
        reverse("admin:invoicing_invoice_change", args=[other_invoice.pk]),
        reverse("admin:ledger_entry_change", args=[other_invoice.entry_id]),
        reverse("admin:parties_organisation_change", args=[other_customer.organisation_id]),
        reverse("admin:parties_customer_history", args=[other_customer.pk]),
        reverse("staff:customer_statement", args=[other_customer.pk]),
        reverse("staff:invoice_credit_note", args=[other_invoice.pk]),
        reverse("staff:balances") + "?org=bourg",
    ]

    for url in urls:
        response = staff.get(url)
        assert response.status_code == 404, url
        assert "Paul Secret" not in response.content.decode()


@pytest.mark.django_db
def test_an_invoice_move_on_another_organisations_invoice_answers_404_and_changes_nothing(staff, other_org,
                                                                                       other_customer):
    theirs = draft_invoice(other_org, other_customer, ("Cantine", "1", "10.00"))

    response = staff.post(reverse("staff:invoice_action", args=[theirs.pk, "validate"]))

    assert response.status_code == 404
    theirs.refresh_from_db()
    assert theirs.status == Invoice.Status.DRAFT


@pytest.mark.django_db
def test_a_form_refuses_records_of_another_organisation(staff, org, other_org):
    their_tag = Tag.objects.create(organisation=other_org, name="VIP")

    response = staff.post(reverse("admin:parties_customer_add"), {
        "organisation": other_org.pk, "ref": "X1", "name": "Intrus", "kind": "person", "language": "fr",
        "country": "FR", "tags": [their_tag.pk],
    })

    assert response.status_code == 200  # the form again, with its errors
    assert not Customer.objects.filter(ref="X1").exists()


@pytest.mark.django_db
def test_a_member_of_two_organisations_cannot_mix_them_in_one_record(staff, clerk, org, other_org):
    Membership.objects.create(organisation=other_org, user=clerk)
    their_tag = Tag.objects.create(organisation=other_org, name="VIP")

    response = staff.post(reverse("admin:parties_customer_add"), {
        "organisation": org.pk, "ref": "X2", "name": "Mélange", "kind": "person", "language": "fr",
        "country": "FR", "tags": [their_tag.pk],
    })

    assert "belongs to another organisation" in response.content.decode()
    assert not Customer.objects.filter(ref="X2").exists()


@pytest.mark.django_db
def test_staff_of_several_organisations_pick_one_in_lists(staff, clerk, customer, other_org, other_customer):
    Membership.objects.create(organisation=other_org, user=clerk)

    both = staff.get(reverse("admin:parties_customer_changelist")).content.decode()
    only_bourg = staff.get(reverse("admin:parties_customer_changelist"), {"org": "bourg"}).content.decode()

    assert "Jeanne Martin" in both
    assert "Paul Secret" in both
    assert "Paul Secret" in only_bourg
    assert "Jeanne Martin" not in only_bourg


@pytest.mark.django_db
def test_a_superuser_sees_every_organisation(client, customer, other_customer):
    root = get_user_model().objects.create_superuser("root", "root@example.org", "pw-root-123")
    client.force_login(root)

    page = client.get(reverse("admin:parties_customer_changelist")).content.decode()

    assert "Jeanne Martin" in page
    assert "Paul Secret" in page


@pytest.mark.django_db
def test_staff_without_organisation_are_sent_to_the_login_page(client, other_invoice):
    loner = get_user_model().objects.create_user("loner", "loner@example.org", "pw-loner-123", is_staff=True)
    client.force_login(loner)

    responses = [client.get(reverse("admin:invoicing_invoice_changelist")), client.get(reverse("staff:balances"))]

    assert all(r.status_code == 302 and "/login/" in r["Location"] for r in responses)


@pytest.mark.django_db
def test_a_posted_invoice_of_mine_is_shown(staff, org, customer):
    invoice = draft_invoice(org, customer, status=Invoice.Status.VALIDATED)
    post_invoice(invoice_id=invoice.pk, today=JANUARY_10)

    response = staff.get(reverse("admin:invoicing_invoice_change", args=[invoice.pk]))

    assert response.status_code == 200
