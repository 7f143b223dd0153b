"""POST /api/v1/usage-imports: a partner's program uploads its file with an organisation API key."""

from datetime import date

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from encaisse.core.audit import events_for
from encaisse.invoicing.models import Invoice
from encaisse.parties import apikeys
from encaisse.parties.apikeys import create_api_key, revoke_api_key
from encaisse.usage.models import UsageImport

URL = "/api/v1/usage-imports"
# C001: 3 × 4.50 + 1 × 8.00 = 21.50; C002: 2 × 4.50 = 9.00; total 30.50. Line 5: unknown customer.
MARCH_FILE = ("N° client;Prestation;Quantité;Prix unitaire\n"
              "C001;CHEM;3;4,50\n"
              "C001;PANT;1;8,00\n"
              "C002;CHEM;2;4,50\n"
              "C999;CHEM;1;4,50\n").encode()


def upload(client, secret: str | None, *, partner: str = "pressing", period: str = "2026-03",
           content: bytes = MARCH_FILE, header: str = "bearer", **extra: str):
    headers = {"Accept-Language": "en"}  # messages are asserted in English; the API follows the header
    if secret is not None:
        headers |= {"Authorization": f"Bearer {secret}"} if header == "bearer" else {"X-Api-Key": secret}
    data = {"file": SimpleUploadedFile("lavande-2026-03.csv", content, content_type="text/csv"),
            "partner": partner, "period": period, **extra}
    return client.post(URL, data, headers=headers)


@pytest.mark.django_db
def test_an_upload_with_a_key_creates_one_draft_per_customer_and_answers_201_with_the_report(
        client, org, partner, api_secret):
    response = upload(client, api_secret)

    assert response.status_code == 201, response.content
    report = response.json()
    assert report["status"] == "succeeded"
    assert report["lines_read"] == 4
    assert report["lines_accepted"] == 3
    assert report["invoices_created"] == 2
    assert report["amount_by_customer"] == {"C001": "21.50", "C002": "9.00"}
    assert report["total"] == "30.50"
    assert [(r["line"], r["code"]) for r in report["rejected"]] == [(5, "unknown_customer")]
    drafts = Invoice.objects.filter(organisation=org, status=Invoice.Status.DRAFT, billing_period=date(2026, 3, 1))
    assert sorted(drafts.values_list("party__ref", flat=True)) == ["C001", "C002"]
    usage_import = UsageImport.objects.get(pk=report["id"])
    assert usage_import.origin == "api"
    assert usage_import.organisation == org


@pytest.mark.django_db
def test_the_key_may_come_in_x_api_key_and_the_same_file_again_answers_200_unchanged(client, org, partner,
                                                                                     api_secret):
    first = upload(client, api_secret, header="x-api-key")
    again = upload(client, api_secret, header="x-api-key")

    assert first.status_code == 201
    assert again.status_code == 200
    assert again.json()["unchanged"] is True
    assert again.json()["id"] == first.json()["id"]
    assert Invoice.objects.filter(organisation=org).count() == 2


@pytest.mark.django_db
def test_dry_run_checks_the_file_and_writes_nothing(client, partner, api_secret):
    response = upload(client, api_secret, dry_run="true")

    assert response.status_code == 201
    assert response.json()["dry_run"] is True
    assert response.json()["id"] is None
    assert not Invoice.objects.exists()


@pytest.mark.django_db
def test_without_a_key_or_with_a_wrong_one_the_api_answers_401_and_imports_nothing(client, partner, api_secret):
    assert upload(client, None).status_code == 401
    assert upload(client, api_secret + "x").status_code == 401
    assert upload(client, "enc_00000000_guess", header="x-api-key").status_code == 401
    assert upload(client, "not-a-key").json()["code"] == "unauthorized"
    assert not Invoice.objects.exists()


@pytest.mark.django_db
def test_a_revoked_key_is_refused(client, org, partner, clerk):
    key, secret = create_api_key(organisation=org, name="old uploader", by=clerk)
    revoke_api_key(key_id=key.pk, by=clerk)

    assert upload(client, secret).status_code == 401
    assert events_for(key).filter(verb="revoked").exists()


@pytest.mark.django_db
def test_a_partner_of_another_organisation_answers_404_like_a_missing_one(client, partner, other_partner,
                                                                         api_secret):
    theirs = upload(client, api_secret, partner=other_partner.code)
    missing = upload(client, api_secret, partner="nobody")

    assert theirs.status_code == 404
    assert theirs.json() == {"code": "not_found", "message": "Partner menage does not exist."}
    assert missing.status_code == 404
    assert not Invoice.objects.exists()


@pytest.mark.django_db
def test_an_unreadable_file_or_a_bad_period_answers_400_with_code_and_message(client, partner, api_secret):
    empty = upload(client, api_secret, content=b"")
    bad_period = upload(client, api_secret, period="mars 2026")

    assert empty.status_code == 400
    assert empty.json()["code"] == "unreadable_file"
    assert empty.json()["message"]
    assert bad_period.status_code == 400
    assert bad_period.json()["code"] == "bad_period"
    assert not Invoice.objects.exists()


@pytest.mark.django_db
def test_an_import_is_read_back_by_its_organisation_only(client, org, partner, api_secret, other_org):
    created = upload(client, api_secret).json()
    _key, other_secret = create_api_key(organisation=other_org, name="theirs")

    mine = client.get(f"{URL}/{created['id']}", headers={"Authorization": f"Bearer {api_secret}"})
    theirs = client.get(f"{URL}/{created['id']}", headers={"X-Api-Key": other_secret})

    assert mine.status_code == 200
    assert mine.json()["total"] == "30.50"
    assert mine.json()["partner"] == "pressing"
    assert theirs.status_code == 404
    assert client.get(f"{URL}/{created['id']}").status_code == 401


@pytest.mark.django_db
def test_the_openapi_document_and_docs_page_render_with_the_usage_endpoints(client):
    schema = client.get("/api/v1/openapi.json")
    docs = client.get("/api/v1/docs")

    assert schema.status_code == 200
    assert "/api/v1/usage-imports" in schema.json()["paths"]
    assert docs.status_code == 200


@pytest.mark.django_db
def test_a_key_whose_secret_contains_an_underscore_is_accepted(client, org, partner, monkeypatch):
    monkeypatch.setattr(apikeys.secrets, "token_urlsafe", lambda n: "abc_def-" + "x" * 35)
    _key, secret = create_api_key(organisation=org, name="unlucky")

    assert upload(client, secret).status_code == 201
