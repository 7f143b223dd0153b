"""encaisse portal-link: a one-time portal link for one customer, for scripts and support staff."""

import pytest
from django.conf import settings
from django.test import Client

from encaisse.core.audit import events_for
from encaisse.onboarding.organisations import create_organisation
from encaisse.parties.models import Customer

from .test_commands import run, run_json


@pytest.mark.django_db
def test_portal_link_prints_a_link_that_signs_the_customer_in(org, customer):
    code, answer = run_json("portal-link", "C001")

    assert code == 0
    assert (answer["customer"], answer["organisation"], answer["expires_in_minutes"]) == ("C001", "pressing", 15)
    assert answer["url"].startswith(settings.ENCAISSE_BASE_URL.rstrip("/") + "/portal/sign-in/link/")
    client = Client()
    client.post(answer["url"].removeprefix(settings.ENCAISSE_BASE_URL.rstrip("/")))
    assert "Jeanne Martin" in client.get("/portal/").content.decode()
    assert events_for(customer).get(verb="portal_link_created").origin == "cli"


@pytest.mark.django_db
def test_portal_link_without_json_prints_ref_name_and_link(org, customer):
    code, out, _err = run("portal-link", "C001")

    assert code == 0
    assert out.startswith("C001  Jeanne Martin  http")


@pytest.mark.django_db
def test_an_unknown_customer_is_exit_1_with_an_error(org, customer):
    code, answer = run_json("portal-link", "C999")

    assert (code, answer["error"]["code"]) == (1, "not_found")
    assert "C999" in answer["error"]["message"]


@pytest.mark.django_db
def test_with_several_organisations_org_says_which(org, customer):
    other = create_organisation(name="Mairie de Bourg", slug="bourg", by=None)
    Customer.objects.create(organisation=other, ref="C001", name="Paul Bourg", email="paul@example.org")

    assert run_json("portal-link", "C001")[0] == 2
    code, answer = run_json("portal-link", "C001", "--org", "bourg")

    assert (code, answer["name"]) == (0, "Paul Bourg")
