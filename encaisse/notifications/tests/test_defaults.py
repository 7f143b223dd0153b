import pytest

from encaisse.notifications.defaults import DEFAULT_TEMPLATES, sync_default_templates
from encaisse.notifications.models import EmailTemplate


@pytest.mark.django_db
def test_every_built_in_template_is_in_the_database_in_french_and_english():
    rows = set(EmailTemplate.objects.filter(organisation=None).values_list("code", "language"))

    assert rows == set(DEFAULT_TEMPLATES)
    assert {("invoice_issued", "fr"), ("invoice_issued", "en"), ("generic", "fr"), ("generic", "en")} <= rows


@pytest.mark.django_db
def test_a_built_in_template_changed_in_the_database_is_put_back_by_the_sync():
    EmailTemplate.objects.filter(organisation=None, code="generic", language="fr").update(subject="Altered")

    assert sync_default_templates() == 1
    assert sync_default_templates() == 0
    row = EmailTemplate.objects.get(organisation=None, code="generic", language="fr")
    assert row.subject == DEFAULT_TEMPLATES["generic", "fr"].subject
