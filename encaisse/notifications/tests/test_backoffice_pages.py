"""The outbox and template pages of the back office, through the test client.

The pages live in encaisse.backoffice.outbox, an upper layer this package never
imports; they are reached over HTTP only. The fixture below makes sure that
module is loaded (the back office's admin module imports it too), by name, so
no import edge points upwards.
"""

from importlib import import_module

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core import mail
from django.urls import reverse

from encaisse.notifications.models import EmailTemplate, OutboxMessage
from encaisse.notifications.services import EmailToQueue, queue_email, queue_emails
from encaisse.parties.models import Organisation

Status = OutboxMessage.Status


@pytest.fixture(autouse=True)
def backoffice_pages(client) -> None:
    import_module("encaisse.backoffice.outbox")
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"  # these tests read the English labels


@pytest.fixture
def other_org(db):
    return Organisation.objects.create(name="Mairie de Bourg", slug="bourg")


def hello(organisation, to, subject):
    return queue_email(organisation=organisation, template_code="generic", to=to,
                       context={"subject": subject, "body": "Corps du message"})


@pytest.mark.django_db
def test_staff_see_only_their_organisations_mails(client, clerk, org, other_org):
    mine = hello(org, "jeanne@example.org", "Pressing prêt")
    theirs = hello(other_org, "paul@bourg.example", "Cantine de mars")
    hello(None, "ops@example.org", "Platform notice")
    client.force_login(clerk)

    page = client.get(reverse("admin:notifications_outboxmessage_changelist"))
    detail = client.get(reverse("admin:notifications_outboxmessage_change", args=[mine.pk]))
    foreign = client.get(reverse("admin:notifications_outboxmessage_change", args=[theirs.pk]))

    assert page.status_code == 200
    content = page.content.decode()
    assert "jeanne@example.org" in content
    assert "Pressing prêt" in content
    assert "paul@bourg.example" not in content
    assert "ops@example.org" not in content
    assert detail.status_code == 200
    assert "Corps du message" in detail.content.decode()
    assert foreign.status_code == 404
    assert "paul@bourg.example" not in foreign.content.decode()


@pytest.mark.django_db
def test_a_superuser_also_sees_platform_mails(client, org):
    hello(None, "ops@example.org", "Platform notice")
    admin_user = get_user_model().objects.create_superuser("root", "root@example.org", "pw-root-123")
    client.force_login(admin_user)

    page = client.get(reverse("admin:notifications_outboxmessage_changelist"))

    assert "ops@example.org" in page.content.decode()


@pytest.mark.django_db
def test_the_outbox_is_read_only(client, clerk, org):
    message = hello(org, "jeanne@example.org", "Pressing prêt")
    client.force_login(clerk)

    client.post(reverse("admin:notifications_outboxmessage_change", args=[message.pk]),
                {"subject": "Changed", "to": "x@example.org"})

    message.refresh_from_db()
    assert message.subject == "Pressing prêt"
    assert client.get(reverse("admin:notifications_outboxmessage_add")).status_code == 403


@pytest.mark.django_db
def test_send_again_from_the_outbox_page(client, clerk, org, django_capture_on_commit_callbacks):
    failed = hello(org, "jeanne@example.org", "Pressing prêt")
    OutboxMessage.objects.filter(pk=failed.pk).update(status=Status.FAILED, attempts=5, next_attempt_at=None,
                                                      last_error="SMTPConnectError: 421")
    client.force_login(clerk)

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("admin:notifications_outboxmessage_changelist"),
                               {"action": "send_again", "_selected_action": [failed.pk]}, follow=True)

    failed.refresh_from_db()
    assert "1 message queued again." in response.content.decode()
    assert failed.status == Status.SENT
    assert [m.subject for m in mail.outbox] == ["Pressing prêt"]


@pytest.mark.django_db
def test_built_in_templates_are_shown_read_only_and_copied_into_the_organisation(client, clerk, org):
    builtin = EmailTemplate.objects.get(organisation=None, code="invoice_issued", language="fr")
    client.force_login(clerk)

    listing = client.get(reverse("admin:notifications_emailtemplate_changelist"))
    client.post(reverse("admin:notifications_emailtemplate_change", args=[builtin.pk]),
                {"organisation": org.pk, "code": "invoice_issued", "language": "fr",
                 "subject": "Changed", "body_text": "Changed"})
    client.post(reverse("admin:notifications_emailtemplate_changelist"),
                {"action": "copy_to_organisation", "_selected_action": [builtin.pk]})

    assert "invoice_issued" in listing.content.decode()
    builtin.refresh_from_db()
    assert builtin.subject != "Changed"
    copy = EmailTemplate.objects.get(organisation=org, code="invoice_issued", language="fr")
    assert copy.subject == builtin.subject

    client.post(reverse("admin:notifications_emailtemplate_change", args=[copy.pk]),
                {"organisation": org.pk, "code": "invoice_issued", "language": "fr",
                 "subject": "Facture {{ invoice_number }}", "body_text": "Merci", "body_html": ""})
    copy.refresh_from_db()
    assert copy.subject == "Facture {{ invoice_number }}"


@pytest.mark.django_db
def test_a_broken_template_is_refused_by_the_form(client, clerk, org):
    client.force_login(clerk)

    response = client.post(reverse("admin:notifications_emailtemplate_add"),
                           {"organisation": org.pk, "code": "generic", "language": "fr",
                            "subject": "{% if %}", "body_text": "x", "body_html": ""})

    assert response.status_code == 200  # the form again, with the error
    assert "Template error" in response.content.decode()
    assert not EmailTemplate.objects.filter(organisation=org).exists()


@pytest.mark.django_db
def test_staff_do_not_see_another_organisations_templates(client, clerk, org, other_org):
    EmailTemplate.objects.create(organisation=other_org, code="generic", language="fr",
                                 subject="Secret wording of Bourg", body_text="x")
    client.force_login(clerk)

    listing = client.get(reverse("admin:notifications_emailtemplate_changelist"), {"q": "Secret"})

    assert "Secret wording of Bourg" not in listing.content.decode()


@pytest.mark.django_db
def test_staff_of_two_organisations_choose_where_a_template_is_copied(client, clerk, org, other_org):
    from encaisse.parties.models import Membership

    Membership.objects.create(organisation=other_org, user=clerk)
    builtin = EmailTemplate.objects.get(organisation=None, code="generic", language="en")
    changelist = reverse("admin:notifications_emailtemplate_changelist")
    client.force_login(clerk)

    choice = client.post(changelist, {"action": "copy_to_organisation", "_selected_action": [builtin.pk]})
    assert choice.status_code == 200
    assert "Mairie de Bourg" in choice.content.decode()
    assert not EmailTemplate.objects.filter(organisation__isnull=False).exists()

    client.post(changelist, {"action": "copy_to_organisation", "_selected_action": [builtin.pk],
                             "apply": "1", "organisation": other_org.pk})

    assert list(EmailTemplate.objects.filter(organisation__isnull=False).values_list("organisation", "code")) == [
        (other_org.pk, "generic")
    ]


@pytest.mark.django_db
def test_a_built_in_template_page_lists_its_variables(client, clerk, org):
    builtin = EmailTemplate.objects.get(organisation=None, code="invoice_issued", language="en")
    client.force_login(clerk)

    page = client.get(reverse("admin:notifications_emailtemplate_change", args=[builtin.pk]))

    assert page.status_code == 200
    assert "<code>{{ invoice_number }}</code>" in page.content.decode()


@pytest.mark.django_db
def test_a_message_waiting_to_be_rendered_shows_a_preview_not_a_blank_subject(client, clerk, org):
    queue_emails(organisation=org, template_code="generic", emails=[EmailToQueue(
        to="jeanne@example.org", idempotency_key="k",
        context={"subject": "Prélèvement du 16 mars", "body": "Montant : <{{ 60 }}>"})])
    message = OutboxMessage.objects.get()
    client.force_login(clerk)

    page = client.get(reverse("admin:notifications_outboxmessage_changelist")).content.decode()
    detail = client.get(reverse("admin:notifications_outboxmessage_change", args=[message.pk])).content.decode()

    assert "jeanne@example.org" in page
    assert "(rendered when sent)" in page
    assert "rendered when it is sent" in detail
    assert "Prélèvement du 16 mars" in detail
    assert "Montant : &lt;{{ 60 }}&gt;" in detail  # the preview is escaped like the rest of the page
    message.refresh_from_db()
    assert not message.is_rendered  # looking renders nothing for good
