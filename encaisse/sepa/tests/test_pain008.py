"""The pain.008 direct-debit file: what the bank receives, checked against the ISO 20022 schemas."""

from dataclasses import replace
from datetime import date, datetime
from decimal import Decimal

import pytest
from lxml import etree

from encaisse.core.money import Money
from encaisse.sepa.pain008 import (
    Amendment,
    Creditor,
    Debit,
    DuplicateEndToEndId,
    EmptyDebitFile,
    InvalidCreditor,
    InvalidDebit,
    InvalidSepaId,
    SepaFileInvalid,
    is_sepa_id,
    validate_pain008,
    write_pain008,
)

SCHEMAS = ["pain.008.001.02", "pain.008.001.08"]
MSG_ID = "ENC-20261208-0001"
CREATED = datetime(2026, 12, 8, 9, 30)
DEC_10, DEC_11 = date(2026, 12, 10), date(2026, 12, 11)


def creditor(schema="pain.008.001.02", **changes) -> Creditor:
    return replace(Creditor(name="Régie des Eaux de Montélimar", iban="FR7630006000011234567890189",
                            bic="AGRIFRPPXXX", creditor_id="FR72ZZZ123456", scheme="CORE", schema=schema), **changes)


def debit(e2e="E2E-INV-2026-0001", cents=1250, **changes) -> Debit:
    return replace(Debit(end_to_end_id=e2e, amount=Money(cents, "EUR"), debtor_name="Zoé Müller",
                         iban="DE89370400440532013000", bic="COBADEFFXXX", mandate_reference="UMR-0001",
                         mandate_signed_on=date(2024, 1, 15), sequence_type="RCUR", collection_date=DEC_10,
                         remittance="Facture F2026-0001"), **changes)


def write(debits, *, schema="pain.008.001.02", **creditor_changes):
    return write_pain008(creditor=creditor(schema, **creditor_changes), debits=debits, message_id=MSG_ID,
                         created_at=CREATED)


def parsed(output):
    root = etree.fromstring(output.xml)
    return root, {"p": etree.QName(root).namespace}


def text(node, path, ns):
    return node.findtext(path, namespaces=ns)


FIVE = [
    debit("E2E-1", 1250, sequence_type="FRST", mandate_reference="UMR-1"),
    debit("E2E-2", 9999, mandate_reference="UMR-2"),
    debit("E2E-3", 100000, collection_date=DEC_11, mandate_reference="UMR-3"),
    debit("E2E-4", 42, mandate_reference="UMR-4"),
    debit("E2E-5", 5000, sequence_type="FNAL", mandate_reference="UMR-5"),
]


@pytest.mark.parametrize("schema", SCHEMAS)
def test_one_batch_per_sequence_type_and_collection_date_with_exact_totals(schema):
    output = write(FIVE, schema=schema)

    validate_pain008(output.xml, schema=schema)
    root, ns = parsed(output)
    assert etree.QName(root).namespace == f"urn:iso:std:iso:20022:tech:xsd:{schema}"
    assert text(root, "p:CstmrDrctDbtInitn/p:GrpHdr/p:MsgId", ns) == MSG_ID
    assert text(root, "p:CstmrDrctDbtInitn/p:GrpHdr/p:CreDtTm", ns) == "2026-12-08T09:30:00"
    assert text(root, "p:CstmrDrctDbtInitn/p:GrpHdr/p:NbOfTxs", ns) == "5"
    # 12.50 + 99.99 + 1000.00 + 0.42 + 50.00
    assert text(root, "p:CstmrDrctDbtInitn/p:GrpHdr/p:CtrlSum", ns) == "1162.91"
    blocks = [(text(p, "p:PmtInfId", ns), text(p, "p:PmtTpInf/p:SeqTp", ns), text(p, "p:ReqdColltnDt", ns),
               text(p, "p:NbOfTxs", ns), text(p, "p:CtrlSum", ns),
               [text(t, "p:PmtId/p:EndToEndId", ns) for t in p.iterfind("p:DrctDbtTxInf", ns)])
              for p in root.iterfind("p:CstmrDrctDbtInitn/p:PmtInf", ns)]
    assert blocks == [
        (f"{MSG_ID}-1", "FRST", "2026-12-10", "1", "12.50", ["E2E-1"]),
        (f"{MSG_ID}-2", "RCUR", "2026-12-10", "2", "100.41", ["E2E-2", "E2E-4"]),  # 99.99 + 0.42
        (f"{MSG_ID}-3", "RCUR", "2026-12-11", "1", "1000.00", ["E2E-3"]),
        (f"{MSG_ID}-4", "FNAL", "2026-12-10", "1", "50.00", ["E2E-5"]),
    ]
    assert output.message_id == MSG_ID
    assert output.number_of_transactions == 5
    assert output.control_sum == Money(116291, "EUR")
    assert output.payment_info_ids == {("FRST", DEC_10): f"{MSG_ID}-1", ("RCUR", DEC_10): f"{MSG_ID}-2",
                                       ("RCUR", DEC_11): f"{MSG_ID}-3", ("FNAL", DEC_10): f"{MSG_ID}-4"}
    assert [(b.sequence_type, b.collection_date, b.number_of_transactions, b.control_sum)
            for b in output.batches] == [
        ("FRST", DEC_10, 1, Money(1250, "EUR")), ("RCUR", DEC_10, 2, Money(10041, "EUR")),
        ("RCUR", DEC_11, 1, Money(100000, "EUR")), ("FNAL", DEC_10, 1, Money(5000, "EUR"))]


@pytest.mark.parametrize("schema", SCHEMAS)
def test_each_debit_carries_what_the_bank_and_the_debtor_see(schema):
    output = write([debit("E2E-INV-2026-0001", 1250, iban="DE89 3704 0044 0532 0130 00")], schema=schema)

    root, ns = parsed(output)
    tx = root.find("p:CstmrDrctDbtInitn/p:PmtInf/p:DrctDbtTxInf", ns)
    assert text(tx, "p:PmtId/p:EndToEndId", ns) == "E2E-INV-2026-0001"
    amount = tx.find("p:InstdAmt", ns)
    assert (amount.text, amount.get("Ccy")) == ("12.50", "EUR")
    assert text(tx, "p:DrctDbtTx/p:MndtRltdInf/p:MndtId", ns) == "UMR-0001"
    assert text(tx, "p:DrctDbtTx/p:MndtRltdInf/p:DtOfSgntr", ns) == "2024-01-15"
    assert text(tx, "p:Dbtr/p:Nm", ns) == "Zoe Muller"  # transliterated to the Latin set banks accept
    assert text(tx, "p:DbtrAcct/p:Id/p:IBAN", ns) == "DE89370400440532013000"  # compact form
    bic_tag = "BIC" if schema == "pain.008.001.02" else "BICFI"
    assert text(tx, f"p:DbtrAgt/p:FinInstnId/p:{bic_tag}", ns) == "COBADEFFXXX"
    assert text(tx, "p:RmtInf/p:Ustrd", ns) == "Facture F2026-0001"
    pmt = root.find("p:CstmrDrctDbtInitn/p:PmtInf", ns)
    assert text(pmt, "p:Cdtr/p:Nm", ns) == "Regie des Eaux de Montelimar"
    assert text(pmt, "p:CdtrAcct/p:Id/p:IBAN", ns) == "FR7630006000011234567890189"
    assert text(pmt, "p:CdtrSchmeId/p:Id/p:PrvtId/p:Othr/p:Id", ns) == "FR72ZZZ123456"
    assert text(pmt, "p:CdtrSchmeId/p:Id/p:PrvtId/p:Othr/p:SchmeNm/p:Prtry", ns) == "SEPA"


@pytest.mark.parametrize("schema", SCHEMAS)
@pytest.mark.parametrize("scheme", ["CORE", "B2B"])
def test_the_scheme_is_the_local_instrument_of_every_batch(schema, scheme):
    output = write(FIVE, schema=schema, scheme=scheme)

    validate_pain008(output.xml, schema=schema)
    root, ns = parsed(output)
    assert {text(p, "p:PmtTpInf/p:LclInstrm/p:Cd", ns)
            for p in root.iterfind("p:CstmrDrctDbtInitn/p:PmtInf", ns)} == {scheme}


@pytest.mark.parametrize("schema", SCHEMAS)
def test_a_debtor_without_bic_is_written_notprovided_and_the_file_stays_valid(schema):
    output = write([debit(bic=None), debit("E2E-2", bic="")], schema=schema)

    root, ns = parsed(output)
    assert [text(t, "p:DbtrAgt/p:FinInstnId/p:Othr/p:Id", ns)
            for t in root.iterfind(".//p:DrctDbtTxInf", ns)] == ["NOTPROVIDED", "NOTPROVIDED"]
    validate_pain008(output.xml, schema=schema)


def test_a_creditor_without_bic_is_written_notprovided_in_the_2019_schema():
    output = write([debit()], schema="pain.008.001.08", bic=None)

    root, ns = parsed(output)
    assert text(root, ".//p:CdtrAgt/p:FinInstnId/p:Othr/p:Id", ns) == "NOTPROVIDED"


def test_the_2009_schema_needs_the_creditors_bic():
    with pytest.raises(InvalidCreditor, match="BIC"):
        write([debit()], schema="pain.008.001.02", bic=None)


def amendment_of(output, e2e):
    root, ns = parsed(output)
    tx = root.xpath(".//p:DrctDbtTxInf[p:PmtId/p:EndToEndId=$e]", namespaces=ns, e=e2e)[0]
    mandate = tx.find("p:DrctDbtTx/p:MndtRltdInf", ns)
    return [etree.QName(child).localname for child in mandate], mandate, ns


@pytest.mark.parametrize("schema", SCHEMAS)
def test_a_new_account_is_announced_with_smnda(schema):
    output = write([debit("E2E-1", amendment=Amendment(same_mandate_new_account=True)), debit("E2E-2")],
                   schema=schema)

    validate_pain008(output.xml, schema=schema)
    children, mandate, ns = amendment_of(output, "E2E-1")
    assert children == ["MndtId", "DtOfSgntr", "AmdmntInd", "AmdmntInfDtls"]
    assert text(mandate, "p:AmdmntInd", ns) == "true"
    assert text(mandate, "p:AmdmntInfDtls/p:OrgnlDbtrAcct/p:Id/p:Othr/p:Id", ns) == "SMNDA"
    assert mandate.find("p:AmdmntInfDtls/p:OrgnlMndtId", ns) is None
    assert amendment_of(output, "E2E-2")[0] == ["MndtId", "DtOfSgntr"]  # the other debit is untouched


@pytest.mark.parametrize("schema", SCHEMAS)
def test_a_new_mandate_reference_and_the_original_iban_are_announced(schema):
    amendment = Amendment(original_mandate_reference="OLD-UMR-0001", original_iban="FR14 2004 1010 0505 0001 3M02 606")
    output = write([debit(amendment=amendment)], schema=schema)

    validate_pain008(output.xml, schema=schema)
    children, mandate, ns = amendment_of(output, "E2E-INV-2026-0001")
    assert children == ["MndtId", "DtOfSgntr", "AmdmntInd", "AmdmntInfDtls"]
    assert [etree.QName(c).localname for c in mandate.find("p:AmdmntInfDtls", ns)] == ["OrgnlMndtId", "OrgnlDbtrAcct"]
    assert text(mandate, "p:AmdmntInfDtls/p:OrgnlMndtId", ns) == "OLD-UMR-0001"
    assert text(mandate, "p:AmdmntInfDtls/p:OrgnlDbtrAcct/p:Id/p:IBAN", ns) == "FR1420041010050500013M02606"


@pytest.mark.parametrize(("amendment", "reason"), [
    (Amendment(), "nothing changed"),
    (Amendment(original_iban="FR1420041010050500013M02606", same_mandate_new_account=True), "not both"),
    (Amendment(original_iban="FR1420041010050500013M02600"), "not a valid IBAN"),
    (Amendment(original_mandate_reference="OLD UMR"), "original mandate reference"),
])
def test_an_amendment_that_cannot_be_written_is_refused(amendment, reason):
    with pytest.raises(InvalidDebit, match=reason):
        write([debit(amendment=amendment)])


def test_amounts_are_summed_exactly_from_minor_units():
    # Ten debits of 0.10 (a float sum would give 0.9999999999999999) and the largest SEPA amount.
    debits = [debit(f"E2E-{n}", 10) for n in range(10)] + [debit("E2E-BIG", 999_999_999_99, collection_date=DEC_11)]
    output = write(debits)

    root, ns = parsed(output)
    assert text(root, "p:CstmrDrctDbtInitn/p:GrpHdr/p:CtrlSum", ns) == "1000000000.99"
    assert [text(p, "p:CtrlSum", ns) for p in root.iterfind(".//p:PmtInf", ns)] == ["1.00", "999999999.99"]
    assert output.control_sum == Money(1_000_000_000_99, "EUR")
    assert Decimal(text(root, ".//p:DrctDbtTxInf/p:InstdAmt", ns)) == Decimal("0.10")


def test_sepaxml_is_given_integer_cents_since_it_refuses_floats():
    # The guarantee we rely on: a float never gets past sepaxml, so ours must be an int.
    from sepaxml import SepaDD

    sdd = SepaDD({"name": "X", "IBAN": "FR7630006000011234567890189", "BIC": "AGRIFRPPXXX", "batch": True,
                  "creditor_id": "FR72ZZZ123456", "currency": "EUR"})
    with pytest.raises(Exception, match="AMOUNT_NOT_INTEGER"):
        sdd.add_payment({"name": "A", "IBAN": "DE89370400440532013000", "amount": 12.5, "type": "RCUR",
                         "collection_date": DEC_10, "mandate_id": "M", "mandate_date": DEC_10, "description": "d"})
    output = write([debit(cents=1)])
    root, ns = parsed(output)
    assert text(root, ".//p:DrctDbtTxInf/p:InstdAmt", ns) == "0.01"


def test_caller_data_is_left_as_it_was():
    debits = [debit(amendment=Amendment(original_iban="FR14 2004 1010 0505 0001 3M02 606"))]
    before = list(debits)

    write(debits)

    assert debits == before
    assert debits[0].collection_date == DEC_10
    assert debits[0].debtor_name == "Zoé Müller"
    assert debits[0].amendment.original_iban == "FR14 2004 1010 0505 0001 3M02 606"


def test_the_same_input_gives_the_same_file():
    assert write(FIVE).xml == write(FIVE).xml


def test_debits_may_come_from_a_generator():
    output = write(debit(f"E2E-{n}", 100) for n in range(3))

    assert output.number_of_transactions == 3
    assert output.control_sum == Money(300, "EUR")


@pytest.mark.parametrize("value", ["E2E-1", "A", "a/b-c?d:e(f).g,h'i+j k", "X" * 35])
def test_sepa_ids_in_the_restricted_character_set_are_accepted(value):
    assert is_sepa_id(value)


@pytest.mark.parametrize("value", ["", "X" * 36, "/E2E", "E2E/", "E2E//1", "E2E_1", "E2E&1", "Facturé", " E2E",
                                   "E2E ", "E2E\n1", None, 12])
def test_sepa_ids_outside_the_restricted_character_set_are_refused(value):
    assert not is_sepa_id(value)


@pytest.mark.parametrize(("changes", "field"), [
    ({"end_to_end_id": "E2E_0001"}, "End-to-end id"),
    ({"end_to_end_id": "E" * 36}, "End-to-end id"),
    ({"mandate_reference": "UMR 0001"}, "Mandate reference"),
    ({"mandate_reference": "UMR//0001"}, "Mandate reference"),
])
def test_a_bad_id_is_refused_naming_the_debit(changes, field):
    with pytest.raises(InvalidSepaId) as refused:
        write([debit("E2E-OK"), debit(**changes)])

    assert field in str(refused.value)
    assert "debit no. 2" in str(refused.value)


@pytest.mark.parametrize("message_id", ["ENC_2026", "", "/ENC", "X" * 36])
def test_a_bad_message_id_is_refused(message_id):
    with pytest.raises(InvalidSepaId, match="Message id"):
        write_pain008(creditor=creditor(), debits=[debit()], message_id=message_id, created_at=CREATED)


def test_a_message_id_too_long_to_number_the_batches_is_refused():
    with pytest.raises(InvalidSepaId, match="Message id"):
        write_pain008(creditor=creditor(), debits=FIVE, message_id="M" * 34, created_at=CREATED)
    assert write_pain008(creditor=creditor(), debits=FIVE, message_id="M" * 33,
                         created_at=CREATED).batches[-1].payment_info_id == "M" * 33 + "-4"


@pytest.mark.parametrize(("amount", "reason"), [
    (Money(0, "EUR"), "between 0.01"),
    (Money(-1250, "EUR"), "between 0.01"),
    (Money(999_999_999_99 + 1, "EUR"), "between 0.01"),
    (Money(1250, "CHF"), "in EUR"),
    (Decimal("12.50"), "in EUR"),
])
def test_an_amount_that_is_not_positive_eur_is_refused(amount, reason):
    with pytest.raises(InvalidDebit, match=reason) as refused:
        write([debit(), debit("E2E-BAD", amount=amount)])

    assert "no. 2 (end-to-end id E2E-BAD)" in str(refused.value)


@pytest.mark.parametrize(("changes", "reason"), [
    ({"iban": "DE89370400440532013001"}, "not a valid IBAN"),   # check digits fail
    ({"iban": "not an iban"}, "not a valid IBAN"),
    ({"bic": "COBA"}, "not a valid BIC"),
    ({"sequence_type": "FIRST"}, "sequence type"),
    ({"collection_date": datetime(2026, 12, 10)}, "collection date"),
    ({"collection_date": "2026-12-10"}, "collection date"),
    ({"mandate_signed_on": None}, "signature date"),
    ({"debtor_name": "  "}, "name is empty"),
    ({"remittance": ""}, "remittance"),
])
def test_a_debit_the_bank_would_refuse_is_refused_first(changes, reason):
    with pytest.raises(InvalidDebit, match=reason):
        write([debit(**changes)])


def test_a_refused_iban_is_masked_in_the_error():
    with pytest.raises(InvalidDebit) as refused:
        write([debit(iban="DE89370400440532013001")])

    assert "0532013001" not in str(refused.value)
    assert "DE89 •••• 3001" in str(refused.value)


def test_an_end_to_end_id_used_twice_is_refused():
    with pytest.raises(DuplicateEndToEndId, match=r"debits no\. 1 and 3"):
        write([debit("E2E-1"), debit("E2E-2"), debit("E2E-1", collection_date=DEC_11)])


def test_an_empty_file_is_refused():
    with pytest.raises(EmptyDebitFile):
        write([])


@pytest.mark.parametrize(("changes", "field"), [
    ({"iban": "FR7630006000011234567890180"}, "IBAN"),
    ({"bic": "AGRI"}, "BIC"),
    ({"name": " "}, "name"),
    ({"scheme": "COR1"}, "scheme"),
    ({"schema": "pain.008.001.09"}, "schema"),
])
def test_a_creditor_that_cannot_collect_is_refused(changes, field):
    with pytest.raises(InvalidCreditor, match=field):
        write([debit()], **changes)


@pytest.mark.parametrize("creditor_id", ["FR72 ZZZ 123456", "FR72_ZZZ123456", ""])
def test_a_bad_creditor_identifier_is_refused(creditor_id):
    with pytest.raises(InvalidSepaId, match="Creditor identifier"):
        write([debit()], creditor_id=creditor_id)


@pytest.mark.parametrize("schema", SCHEMAS)
def test_a_tampered_file_fails_validation_with_readable_lines(schema):
    xml = write(FIVE, schema=schema).xml
    tampered = xml.replace(b"<SeqTp>FRST</SeqTp>", b"<SeqTp>FIRST</SeqTp>").replace(
        b"<InstdAmt Ccy=\"EUR\">12.50</InstdAmt>", b"<InstdAmt Ccy=\"EUR\">12,50</InstdAmt>")

    with pytest.raises(SepaFileInvalid) as invalid:
        validate_pain008(tampered, schema=schema)

    assert len(invalid.value.errors) == 2
    assert all(line.startswith("line ") for line in invalid.value.errors)
    assert "SeqTp" in invalid.value.errors[0]
    assert "FIRST" in invalid.value.errors[0]
    assert "InstdAmt" in invalid.value.errors[1]
    assert schema in str(invalid.value)


def test_a_file_checked_against_the_other_schema_version_fails():
    with pytest.raises(SepaFileInvalid, match="No matching global declaration"):
        validate_pain008(write(FIVE, schema="pain.008.001.08").xml, schema="pain.008.001.02")


def test_bytes_that_are_not_xml_fail_validation():
    with pytest.raises(SepaFileInvalid):
        validate_pain008(b"<Document><CstmrDrctDbtInitn>", schema="pain.008.001.02")


def test_a_long_name_and_remittance_are_cut_to_what_the_schema_allows():
    output = write([debit(debtor_name="N" * 100, remittance="R" * 200)])

    root, ns = parsed(output)
    assert len(text(root, ".//p:Dbtr/p:Nm", ns)) == 70
    assert len(text(root, ".//p:RmtInf/p:Ustrd", ns)) == 140


def test_an_aware_creation_time_keeps_its_offset():
    from zoneinfo import ZoneInfo

    output = write_pain008(creditor=creditor(), debits=[debit()], message_id=MSG_ID,
                           created_at=datetime(2026, 12, 8, 9, 30, 15, 123, tzinfo=ZoneInfo("Europe/Paris")))

    root, ns = parsed(output)
    assert text(root, "p:CstmrDrctDbtInitn/p:GrpHdr/p:CreDtTm", ns) == "2026-12-08T09:30:15+01:00"
    validate_pain008(output.xml, schema="pain.008.001.02")
