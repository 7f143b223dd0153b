"""Signing a SEPA mandate online: the proof kept, the refusals, the email, the earlier mandate replaced."""

from datetime import UTC, date, datetime

import pytest

from encaisse.core.models import AuditEvent
from encaisse.notifications.models import OutboxMessage
from encaisse.sepa.models import Mandate
from encaisse.sepa.services import MandateRefused, mandate_text, revoke_mandate, sign_mandate_online

IBAN = "FR76 3000 6000 0112 3456 7890 189"
COMPACT = "FR7630006000011234567890189"
SIGNED = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
UMR_CHARS = set("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-")


@pytest.fixture
def creditor(org):
    org.creditor_id, org.address_line1, org.postcode, org.city = "FR72ZZZ123456", "1 rue de la Paix", "75002", "Paris"
    org.save()
    return org


def sign(customer, **changes):
    values = {"customer": customer, "iban": IBAN, "holder_name": "Jeanne Martin", "consent": True,
              "ip": "203.0.113.7", "now": SIGNED} | changes
    return sign_mandate_online(**values)


def test_a_signed_mandate_keeps_its_reference_text_moment_and_address(creditor, customer):
    mandate = sign(customer)

    assert mandate.status == Mandate.Status.ACTIVE
    assert mandate.source == Mandate.Source.PORTAL
    assert mandate.iban == COMPACT
    assert mandate.bic.startswith("AGRIFRPP")
    assert mandate.account_holder == "Jeanne Martin"
    assert (mandate.signed_at, mandate.signed_on, mandate.signature_ip) == (SIGNED, date(2026, 3, 2), "203.0.113.7")
    assert len(mandate.reference) <= 35
    assert set(mandate.reference) <= UMR_CHARS
    assert mandate.reference.startswith("PRESSING-C001-")
    # Jeanne's language is French: the EPC wording in French, with the creditor and the 8-week refund right.
    for part in (f"RUM) : {mandate.reference}", "Pressing du Centre", "FR72ZZZ123456", "1 rue de la Paix",
                 "vous autorisez (A) Pressing du Centre", "8 semaines", "FR76 •••• 0189"):
        assert part in mandate.text
    assert COMPACT not in mandate.text
    assert AuditEvent.objects.filter(verb="mandate_signed", object_id=str(mandate.pk)).exists()


def test_the_text_shown_before_signing_is_the_signed_text_without_reference_and_debtor(creditor, customer):
    shown = mandate_text(creditor, language="en")
    mandate = sign(customer)
    signed_en = mandate_text(creditor, language="en", reference=mandate.reference, holder_name="Jeanne Martin",
                             iban=COMPACT)

    assert "given when you sign" in shown
    assert shown.split("Type of payment")[1] == signed_en.split("Type of payment")[1]
    assert "within 8 weeks" in shown


def test_the_signed_mandate_is_emailed_with_its_reference_and_a_masked_iban(creditor, customer):
    mandate = sign(customer)

    message = OutboxMessage.objects.get(template_code="mandate_signed")
    assert message.to == "jeanne@example.org"
    assert mandate.reference in message.subject
    assert mandate.reference in message.body_text
    assert "FR76 •••• 0189" in message.body_text
    assert "FR72ZZZ123456" in message.body_text
    assert COMPACT not in message.body_text
    assert "3000 6000" not in message.body_text


def test_references_are_unique_for_the_creditor(creditor, customer):
    references = {sign(customer).reference for _ in range(5)}

    assert len(references) == 5


def test_a_new_mandate_replaces_the_active_one(creditor, customer):
    first = sign(customer)
    second = sign(customer, iban="DE89 3704 0044 0532 0130 00")

    first.refresh_from_db()
    assert first.status == Mandate.Status.REVOKED
    assert first.revoked_reason == f"replaced by {second.reference}"
    assert list(Mandate.objects.filter(customer=customer, status=Mandate.Status.ACTIVE)) == [second]


@pytest.mark.parametrize(("changes", "message"), [
    ({"iban": "FR76 3000 6000 0112 3456 7890 188"}, "FR76 •••• 0188 is not a valid IBAN"),
    ({"iban": "TR33 0006 1005 1978 6457 8413 26"}, "cannot be debited by SEPA direct debit"),
    ({"holder_name": "   "}, "account holder"),
    ({"consent": False}, "tick the box"),
])
def test_refusals_write_nothing(creditor, customer, changes, message):
    with pytest.raises(MandateRefused, match=message) as refused:
        sign(customer, **changes)

    assert "3000600001123456789018" not in str(refused.value)
    assert Mandate.objects.count() == 0
    assert OutboxMessage.objects.count() == 0


def test_an_organisation_without_creditor_identifier_cannot_take_mandates(org, customer):
    with pytest.raises(MandateRefused, match="no SEPA creditor identifier"):
        sign(customer)

    assert Mandate.objects.count() == 0
    assert OutboxMessage.objects.count() == 0


def test_revoking_keeps_the_mandate_and_its_proof(creditor, customer, clerk):
    mandate = sign(customer)

    revoked = revoke_mandate(mandate, reason="the customer asked", by=clerk)

    assert revoked.status == Mandate.Status.REVOKED
    assert revoked.revoked_at is not None
    assert revoked.text == mandate.text
    assert revoked.signature_ip == "203.0.113.7"
    assert revoke_mandate(revoked, reason="again", by=clerk).revoked_reason == "the customer asked"
