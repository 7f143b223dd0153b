"""Usage imports in the back office: upload, preview, confirm, progress, report; history; the month's drafts."""

from datetime import date
from decimal import Decimal
from io import BytesIO

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from encaisse.invoicing.models import Invoice, InvoiceType, Product, VatRate
from encaisse.parties.apikeys import authenticate_api_key
from encaisse.parties.models import ApiKey, Customer, Organisation
from encaisse.usage.models import Partner, UsageImport
from encaisse.usage.services import import_usage_file
from encaisse.usage.tasks import write_progress
from encaisse.usage.tests.factories import detected_partner

MARCH = date(2026, 3, 1)
# C001: 3 × 4.50 + 1 × 8.00 = 21.50; C002: 2 × 4.50 = 9.00; total 30.50.
# Line 5 names a customer that does not exist; line 6 repeats line 2.
MARCH_FILE = ("N° client;Prestation;Quantité;Prix unitaire\n"
              "C001;CHEM;3;4,50\n"
              "C001;PANT;1;8,00\n"
              "C002;CHEM;2;4,50\n"
              "C999;CHEM;1;4,50\n"
              "C001;CHEM;3;4,50\n").encode()


@pytest.fixture(autouse=True)
def _media_in_tmp(media_in_tmp: None) -> None:
    """Uploads, originals and progress files go under MEDIA_ROOT, here in the test's own directory."""


def make_partner(org: Organisation, code: str = "lavande") -> Partner:
    return detected_partner(org, code)


@pytest.fixture
def partner(org: Organisation, customer: Customer) -> Partner:
    Customer.objects.create(organisation=org, ref="C002", name="Paul Durand", email="paul@example.org")
    return make_partner(org)


def upload(client, partner: Partner, content: bytes = MARCH_FILE, name: str = "lavande-2026-03.csv"):
    return client.post(reverse("staff:usage_import"), {
        "partner": partner.pk, "period": "2026-03", "file": SimpleUploadedFile(name, content)})


def imported(partner: Partner, content: bytes = MARCH_FILE) -> UsageImport:
    return import_usage_file(partner=partner, period=MARCH, file=BytesIO(content), filename="march.csv")


@pytest.mark.django_db
def test_upload_previews_the_detected_format_and_first_rows_then_confirm_imports_and_shows_the_report(
        staff, org, partner):
    preview = upload(staff, partner)

    assert preview.status_code == 200
    page = preview.content.decode()
    assert "Format detected from the file" in page
    assert preview.context["format"].separator == ";"
    assert preview.context["format"].decimal_comma is True
    assert [row["line"] for row in preview.context["rows"]] == [2, 3, 4, 5, 6]
    assert preview.context["rows"][0]["values"][:3] == ["C001", "CHEM", "3"]
    assert not Invoice.objects.exists()  # nothing is imported before the confirmation

    token = preview.context["token"]
    done = staff.post(reverse("staff:usage_import_confirm", args=[token]), {"confirm_format": "1"}, follow=True)

    assert done.status_code == 200
    report = done.context["report"]
    assert report["lines_accepted"] == 3
    assert report["amount_by_customer"] == {"C001": "21.50", "C002": "9.00"}
    assert [(r["line"], r["code"]) for r in report["rejected"]] == [(5, "unknown_customer")]
    page = done.content.decode()
    assert 'id="usage-rejected"' in page
    assert 'id="usage-duplicates"' in page
    assert 'hx-get' not in page  # finished: the page stops polling
    usage_import = UsageImport.objects.get()
    assert usage_import.imported_by.username == "clerk"
    assert usage_import.origin == "backoffice"
    assert Invoice.objects.filter(organisation=org, billing_period=MARCH, status=Invoice.Status.DRAFT).count() == 2
    partner.refresh_from_db()
    assert partner.format_confirmed is True
    assert partner.separator == ";"
    assert partner.decimal_comma is True


@pytest.mark.django_db
def test_without_the_confirmation_box_the_partners_format_stays_undeclared(staff, partner):
    token = upload(staff, partner).context["token"]

    staff.post(reverse("staff:usage_import_confirm", args=[token]), {})

    partner.refresh_from_db()
    assert partner.format_confirmed is False
    assert partner.separator == ""
    assert UsageImport.objects.filter(status=UsageImport.Status.SUCCEEDED).count() == 1


@pytest.mark.django_db
def test_an_unreadable_file_is_explained_on_the_preview_and_cannot_be_confirmed(staff, partner):
    preview = upload(staff, partner, content=b"\x00\x01 not a usage file \xff\xfe\n")

    page = preview.content.decode()
    assert preview.context["error"]
    assert 'id="unreadable"' in page
    assert 'id="usage-confirm"' not in page


@pytest.mark.django_db
def test_the_progress_fragment_shows_how_far_the_import_got_and_keeps_polling_until_done(staff, partner):
    token = upload(staff, partner).context["token"]
    status_url = reverse("staff:usage_import_status", args=[token])

    write_progress(token, state="running", lines_read=50, total=200)
    running = staff.get(status_url, headers={"HX-Request": "true"})

    assert running.status_code == 200
    fragment = running.content.decode()
    assert '<progress max="100" value="25">' in fragment  # 50 of 200 lines
    assert f'hx-get="{status_url}"' in fragment
    assert "<html" not in fragment  # htmx gets the fragment alone

    write_progress(token, state="failed", error={"code": "unreadable_file", "message": "The file is empty."})
    failed = staff.get(status_url, headers={"HX-Request": "true"}).content.decode()
    assert "The file is empty." in failed
    assert "hx-get" not in failed


@pytest.mark.django_db
def test_an_upload_of_another_staff_session_is_not_found(staff, partner, client, other_clerk, other_org):
    token = upload(staff, partner).context["token"]
    client.force_login(other_clerk)

    assert client.get(reverse("staff:usage_import_status", args=[token])).status_code == 404
    assert client.post(reverse("staff:usage_import_confirm", args=[token])).status_code == 404


@pytest.mark.django_db
def test_the_import_form_offers_only_the_staff_members_partners(staff, partner, other_org):
    theirs = make_partner(other_org, code="menage")

    form = staff.get(reverse("staff:usage_import")).context["form"]
    response = upload(staff, theirs)

    assert list(form.fields["partner"].queryset) == [partner]
    assert "partner" in response.context["form"].errors
    assert not UsageImport.objects.exists()


@pytest.mark.django_db
def test_history_lists_own_imports_with_report_and_file_and_hides_another_organisations(staff, partner,
                                                                                       other_org):
    mine = imported(partner)
    Customer.objects.create(organisation=other_org, ref="C001", name="Paul Secret")
    theirs = imported(make_partner(other_org, code="menage"))

    listing = staff.get(reverse("admin:usage_usageimport_changelist")).content.decode()
    detail = staff.get(reverse("admin:usage_usageimport_change", args=[mine.pk]))
    download = staff.get(reverse("staff:usage_import_file", args=[mine.pk]))

    assert "march.csv" in listing
    assert "Pressing Menage" not in listing
    assert detail.status_code == 200
    assert 'id="usage-rejected"' in detail.content.decode()
    assert b"".join(download.streaming_content) == MARCH_FILE
    assert staff.get(reverse("admin:usage_usageimport_change", args=[theirs.pk])).status_code == 404
    assert staff.get(reverse("staff:usage_import_file", args=[theirs.pk])).status_code == 404


@pytest.mark.django_db
def test_each_invoice_line_says_which_import_and_file_line_it_came_from(staff, org, partner, customer):
    usage_import = imported(partner)
    invoice = Invoice.objects.get(party=customer, billing_period=MARCH)

    page = staff.get(reverse("admin:invoicing_invoice_change", args=[invoice.pk])).content.decode()

    assert f"import #{usage_import.pk}, line 2" in page
    assert f"import #{usage_import.pk}, line 3" in page
    assert reverse("admin:usage_usageimport_change", args=[usage_import.pk]) in page


@pytest.mark.django_db
def test_the_months_drafts_page_totals_per_partner_and_validates_all_drafts_of_the_month(staff, org, partner):
    imported(partner)
    url = reverse("staff:usage_drafts") + "?period=2026-03"

    summary = staff.get(url)

    assert summary.status_code == 200
    row = summary.context["summary"]["rows"][0]
    assert row["partner"] == partner
    assert row["drafts"] == 2
    assert row["net"].minor == 3050  # 21.50 + 9.00

    done = staff.post(reverse("staff:usage_drafts_action"),
                      {"org": org.slug, "period": "2026-03", "action": "validate"}, follow=True)

    assert done.status_code == 200
    assert "2 drafts validated." in done.content.decode()
    statuses = set(Invoice.objects.filter(organisation=org, billing_period=MARCH).values_list("status", flat=True))
    assert statuses == {Invoice.Status.VALIDATED}


@pytest.mark.django_db
def test_the_invoice_list_filters_by_partner_and_validates_a_selection(staff, org, partner, customer):
    imported(partner)
    own = Invoice.objects.get(party=customer, billing_period=MARCH)
    other = Invoice.objects.exclude(pk=own.pk).get(billing_period=MARCH)
    changelist = reverse("admin:invoicing_invoice_changelist")

    filtered = staff.get(changelist, {"partner": partner.pk})
    staff.post(changelist, {"action": "validate_selected_drafts", "_selected_action": [own.pk]})

    assert {i.pk for i in filtered.context["cl"].result_list} == {own.pk, other.pk}
    own.refresh_from_db()
    other.refresh_from_db()
    assert own.status == Invoice.Status.VALIDATED
    assert other.status == Invoice.Status.DRAFT


@pytest.mark.django_db
def test_an_api_key_made_in_the_back_office_shows_its_secret_once_and_can_be_revoked(staff, org):
    created = staff.post(reverse("admin:parties_apikey_add"), {"organisation": org.pk, "name": "Lavande"},
                         follow=True)

    notices = [str(m) for m in created.context["messages"]]
    secret = next(n.rsplit(" ", 1)[-1] for n in notices if "shown this once" in n)
    key = ApiKey.objects.get(organisation=org)
    assert key.key_hash not in secret
    listing = staff.get(reverse("admin:parties_apikey_changelist")).content.decode()
    assert f"enc_{key.prefix}_" in listing
    assert secret not in listing

    staff.post(reverse("admin:parties_apikey_changelist"), {"action": "revoke", "_selected_action": [key.pk]})

    key.refresh_from_db()
    assert key.revoked_at is not None
    assert authenticate_api_key(secret) is None


@pytest.mark.django_db
def test_a_partner_is_declared_with_its_format_and_service_mappings(staff, org):
    standard = InvoiceType.objects.get(organisation=org, code="STANDARD")
    shirt = Product.objects.create(organisation=org, code="CHEM", label="Chemise", unit_price=Decimal("4.50"),
                                   vat_rate=VatRate.objects.get(organisation=org, code="FR20"),
                                   revenue_account=org.accounts.get(code="706"))

    response = staff.post(reverse("admin:usage_partner_add"), {
        "organisation": org.pk, "code": "lavande", "name": "Pressing Lavande", "invoice_type": standard.pk,
        "active": "on", "file_kind": "csv", "encoding": "cp1252", "separator": ";", "decimal_comma": "true",
        "date_format": "%d/%m/%Y", "has_header": "on", "columns": '{"customer": "Client"}',
        "price_source": "file", "unknown_service": "reject", "max_line_amount_minor": "10000000",
        "mappings-TOTAL_FORMS": 1, "mappings-INITIAL_FORMS": 0, "mappings-MIN_NUM_FORMS": 0,
        "mappings-MAX_NUM_FORMS": 1000, "mappings-0-service_code": "CH", "mappings-0-product": shirt.pk,
    })

    assert response.status_code == 302, response.context["adminform"].form.errors
    partner = Partner.objects.get(organisation=org, code="lavande")
    assert partner.encoding == "cp1252"
    assert partner.columns == {"customer": "Client"}
    assert partner.mappings.get().product == shirt



@pytest.mark.django_db
def test_the_usage_pages_render_for_staff(staff, partner):
    usage_import = imported(partner)
    urls = [
        reverse("admin:usage_partner_changelist"),
        reverse("admin:usage_partner_add"),
        reverse("admin:usage_partner_change", args=[partner.pk]),
        reverse("admin:usage_usageimport_changelist"),
        reverse("admin:parties_apikey_changelist"),
        reverse("admin:parties_apikey_add"),
        reverse("staff:usage_import"),
        reverse("staff:usage_drafts"),
        reverse("admin:invoicing_invoice_changelist") + f"?period=2026-03&partner={partner.pk}",
    ]

    for url in urls:
        assert staff.get(url).status_code == 200, url
    history = staff.get(reverse("admin:usage_partner_changelist")).content.decode()
    assert reverse("admin:usage_usageimport_change", args=[usage_import.pk]) in history


@pytest.mark.django_db
def test_the_same_file_uploaded_again_says_nothing_changed_and_keeps_one_import(staff, partner, settings):
    imported(partner)
    token = upload(staff, partner).context["token"]

    done = staff.post(reverse("staff:usage_import_confirm", args=[token]), follow=True)

    assert 'id="usage-unchanged"' in done.content.decode()
    assert UsageImport.objects.count() == 1
    assert not any((settings.MEDIA_ROOT / "usage" / "uploads" / token).iterdir())  # the upload copy is gone
