"""Staff block a customer or dispute an invoice from the back office, through the holds service; a hold is shown
read-only, lifted with a confirmation, kept afterwards, and only within the staff member's organisations."""

from threading import Event, Thread

import pytest
from django.db import connection, transaction
from django.urls import reverse

from encaisse.collection.holds import block_customer, dispute_invoice, lift_hold
from encaisse.collection.models import CollectionHold
from encaisse.core.audit import events_for
from encaisse.invoicing.tests.factories import draft_invoice, posted_invoice
from encaisse.testing.concurrency import others_wait_for_locks

ADD = "admin:collection_collectionhold_add"
LIST = "admin:collection_collectionhold_changelist"


def notices(response):
    return [str(message) for message in response.context["messages"]]


def page(hold):
    return reverse("admin:collection_collectionhold_change", args=[hold.pk])


def lift_url(hold):
    return reverse("admin:collection_collectionhold_lift", args=[hold.pk])


@pytest.mark.django_db
def test_staff_block_a_customer_through_the_service_and_see_the_hold_read_only(staff, org, clerk, customer):
    assert staff.get(reverse(ADD)).status_code == 200

    response = staff.post(reverse(ADD), {"organisation": org.pk, "kind": "customer_blocked",
                                         "customer": customer.pk, "invoice": "", "reason": "Disputes everything"})

    hold = CollectionHold.objects.get()
    assert response.status_code == 302
    assert (hold.kind, hold.customer, hold.reason, hold.created_by, hold.lifted_at) == (
        "customer_blocked", customer, "Disputes everything", clerk, None)
    held = events_for(hold).get(verb="collection_held")
    assert (held.by, held.origin) == (clerk, "backoffice")
    shown = staff.get(page(hold)).content.decode()
    assert "Disputes everything" in shown
    assert 'name="reason"' not in shown  # read-only
    assert lift_url(hold) in shown
    assert "collection put on hold" in shown  # its audit trail
    listing = staff.get(reverse(LIST)).content.decode()
    assert "Disputes everything" in listing
    assert "Jeanne Martin" in listing
    assert "In force" in listing


@pytest.mark.django_db
def test_a_dispute_takes_the_invoices_customer_and_shows_on_the_invoice_page(staff, org, clerk, customer):
    invoice = posted_invoice(org, customer, clerk)

    staff.post(reverse(ADD), {"organisation": org.pk, "kind": "disputed", "customer": "", "invoice": invoice.pk,
                              "reason": "Never delivered"})

    hold = CollectionHold.objects.get()
    assert (hold.kind, hold.invoice, hold.customer) == ("disputed", invoice, customer)
    invoice_page = staff.get(reverse("admin:invoicing_invoice_change", args=[invoice.pk])).content.decode()
    assert 'id="collection-holds"' in invoice_page
    assert "Never delivered" in invoice_page
    lift_hold(hold=hold, by=clerk)
    invoice_page = staff.get(reverse("admin:invoicing_invoice_change", args=[invoice.pk])).content.decode()
    assert 'id="collection-holds"' not in invoice_page


@pytest.mark.django_db
def test_the_form_says_the_services_refusals_and_writes_nothing(staff, org, clerk, customer):
    block_customer(organisation=org, customer=customer, reason="First", by=clerk)
    draft = draft_invoice(org, customer)
    posted = posted_invoice(org, customer, clerk)
    cases = [
        ({"kind": "customer_blocked", "customer": customer.pk, "invoice": "", "reason": "Twice"},
         "Jeanne Martin (C001) is already blocked: lift that hold first."),
        ({"kind": "disputed", "customer": "", "invoice": draft.pk, "reason": "x"},
         "Only a posted invoice can be disputed;"),
        ({"kind": "customer_blocked", "customer": customer.pk, "invoice": posted.pk, "reason": "x"},
         "A block is for every invoice of the customer"),
        ({"kind": "disputed", "customer": customer.pk, "invoice": "", "reason": "x"}, "Choose the disputed invoice."),
        ({"kind": "customer_blocked", "customer": customer.pk, "invoice": "", "reason": ""},
         "This field is required."),
    ]
    for data, message in cases:
        response = staff.post(reverse(ADD), {"organisation": org.pk, **data})
        assert response.status_code == 200
        assert message in response.content.decode().replace("&#x27;", "'")

    assert CollectionHold.objects.count() == 1


@pytest.mark.django_db
def test_lift_asks_first_then_lifts_once_and_keeps_the_hold(staff, org, clerk, customer):
    hold = block_customer(organisation=org, customer=customer, reason="Checking", by=clerk)

    asked = staff.get(lift_url(hold))
    assert asked.status_code == 200
    assert "Yes, lift the hold" in asked.content.decode()
    assert CollectionHold.objects.get().lifted_at is None

    lifted = staff.post(lift_url(hold), follow=True)

    hold.refresh_from_db()
    assert (hold.lifted_by, hold.lifted_at is not None) == (clerk, True)
    assert notices(lifted) == ["Jeanne Martin (C001) is no longer blocked: the next collection run collects their "
                               "invoices."]
    assert lift_url(hold) not in lifted.content.decode()  # no Lift button any more
    again = staff.post(lift_url(hold), follow=True)
    assert "This hold was already lifted on" in notices(again)[0]
    stale = staff.get(lift_url(hold), follow=True)  # the confirmation, opened from an old tab: not asked again
    assert "Yes, lift the hold" not in stale.content.decode()
    assert "This hold was already lifted on" in notices(stale)[0]
    assert stale.redirect_chain[-1][0] == page(hold)
    assert events_for(hold).filter(verb="collection_hold_lifted").count() == 1
    assert CollectionHold.objects.count() == 1


@pytest.mark.django_db
def test_the_list_action_lifts_the_selected_holds(staff, org, clerk, customer):
    invoice = posted_invoice(org, customer, clerk)
    holds = [block_customer(organisation=org, customer=customer, reason="A", by=clerk),
             dispute_invoice(organisation=org, invoice=invoice, reason="B", by=clerk)]
    lift_hold(hold=holds[1], by=clerk)

    response = staff.post(reverse(LIST), {"action": "lift_selected", "_selected_action": [h.pk for h in holds]},
                          follow=True)

    assert CollectionHold.objects.filter(lifted_at__isnull=True).count() == 0
    shown = notices(response)
    assert any("already lifted" in notice for notice in shown)
    assert "1 hold lifted: the next collection run collects what it stopped." in shown


@pytest.mark.django_db
def test_another_organisations_holds_and_customers_are_out_of_reach(staff, org, other_clerk, other_customer,
                                                                      other_org):
    theirs = block_customer(organisation=other_org, customer=other_customer, reason="Theirs", by=other_clerk)

    assert staff.get(page(theirs)).status_code == 404
    assert staff.get(lift_url(theirs)).status_code == 404
    assert staff.post(lift_url(theirs)).status_code == 404
    assert "Theirs" not in staff.get(reverse(LIST)).content.decode()
    refused = staff.post(reverse(ADD), {"organisation": org.pk, "kind": "customer_blocked",
                                        "customer": other_customer.pk, "invoice": "", "reason": "Mine now"})
    assert refused.status_code == 200
    assert CollectionHold.objects.count() == 1
    theirs.refresh_from_db()
    assert theirs.lifted_at is None


@pytest.mark.django_db
def test_the_customer_page_offers_the_block_then_shows_it_with_its_reason(staff, org, clerk, customer):
    customer_page = reverse("admin:parties_customer_change", args=[customer.pk])
    shown = staff.get(customer_page).content.decode()
    assert f"{reverse(ADD)}?customer={customer.pk}&amp;kind=customer_blocked" in shown
    assert staff.get(reverse(ADD), {"customer": customer.pk, "kind": "customer_blocked"}).context[
        "adminform"].form.initial["customer"] == str(customer.pk)

    hold = block_customer(organisation=org, customer=customer, reason="Disputes everything", by=clerk)

    shown = staff.get(customer_page).content.decode()
    assert "Automatic collection blocked:" in shown
    assert "Disputes everything" in shown
    assert page(hold) in shown
    lift_hold(hold=hold, by=clerk)
    assert "Automatic collection blocked:" not in staff.get(customer_page).content.decode()


@pytest.mark.django_db
def test_the_customer_and_invoice_pickers_offer_only_the_staff_members_organisation(
        staff, org, clerk, customer, other_org, other_customer, other_clerk, other_invoice):
    mine = posted_invoice(org, customer, clerk)

    def offered(field, term):
        answer = staff.get(reverse("admin:autocomplete"), {"app_label": "collection", "model_name": "collectionhold",
                                                            "field_name": field, "term": term})
        assert answer.status_code == 200
        return {row["text"] for row in answer.json()["results"]}

    assert offered("customer", "") == {str(customer)}
    assert offered("customer", "Paul") == set()
    assert offered("invoice", "") == {str(mine)}
    assert offered("invoice", "Paul Secret") == set()  # their invoice, searched by its customer
    # Posted by hand, their invoice is not a choice: nothing is written.
    refused = staff.post(reverse(ADD), {"organisation": org.pk, "kind": "disputed", "customer": "",
                                        "invoice": other_invoice.pk, "reason": "Mine now"})
    assert refused.status_code == 200
    assert "Select a valid choice" in refused.content.decode()
    assert not CollectionHold.objects.exists()
    # Nor can their hold be lifted through the list's action.
    theirs = dispute_invoice(organisation=other_org, invoice=other_invoice, reason="Theirs", by=other_clerk)
    staff.post(reverse(LIST), {"action": "lift_selected", "_selected_action": [theirs.pk]}, follow=True)
    theirs.refresh_from_db()
    assert theirs.in_force


@pytest.mark.postgresql
@pytest.mark.django_db(transaction=True)
def test_a_block_lost_to_another_clerk_comes_back_filled_in_with_the_refusal(staff, org, clerk, customer):
    # Another clerk blocks the customer and holds the customer's row until this form's write is seen waiting for
    # it: the form's checks passed (that block was not committed yet), the service's, under the lock, refuse.
    other_blocked = Event()
    waited = []

    def other_clerk() -> None:
        try:
            with transaction.atomic():
                block_customer(organisation=org, customer=customer, reason="Other clerk's block", by=clerk)
                other_blocked.set()
                waited.append(others_wait_for_locks(1))
        finally:
            connection.close()

    thread = Thread(target=other_clerk)
    thread.start()
    assert other_blocked.wait(10)
    response = staff.post(reverse(ADD), {"organisation": org.pk, "kind": "customer_blocked",
                                         "customer": customer.pk, "invoice": "", "reason": "Unpaid since March"})
    thread.join(10)

    assert waited == [True]
    assert response.status_code == 200  # the form again, not a redirect to an empty one
    page_text = response.content.decode().replace("&#x27;", "'")
    assert page_text.count("Jeanne Martin (C001) is already blocked: lift that hold first.") == 1
    assert "Unpaid since March</textarea>" in page_text
    assert list(CollectionHold.objects.values_list("reason", flat=True)) == ["Other clerk's block"]
