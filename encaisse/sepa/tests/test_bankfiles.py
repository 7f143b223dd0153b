"""Reading pain.002 and camt.054 files into facts; every other file refused with a clear message."""

from datetime import date, datetime
from pathlib import Path

import pytest

from encaisse.core.money import Money
from encaisse.sepa.bankfiles import BankFileInvalid, RejectedBatch, read_bank_file

DATA = Path(__file__).parent / "data"
ISSUE_CODES = [
    "AC01", "AC04", "AC06", "AC13", "AG01", "AG02", "AM04", "AM05", "BE05", "CNOR", "DNOR", "FF01", "MD01",
    "MD02", "MD06", "MD07", "MS02", "MS03", "RC01", "RR01", "RR02", "RR03", "RR04", "SL01", "FOCR",
]
SAMPLE = (DATA / "pain.002.001.03-rejects.xml").read_bytes()


def read(name):
    return read_bank_file((DATA / name).read_bytes())


def eur(amount):
    return Money.of(amount, "EUR")


def by_e2e(content):
    facts = {fact.end_to_end_id: fact for fact in content.facts}
    assert len(facts) == len(content.facts), "one fact per end-to-end id"
    return facts


# --- pain.002 -----------------------------------------------------------------------------------------------


def test_pain002_header():
    content = read("pain.002.001.03-rejects.xml")
    assert content.kind == "pain.002"
    assert content.version == "pain.002.001.03"
    assert content.schema_checked
    assert content.message_id == "BANK-STS-20261209-0001"
    assert content.created_at == datetime(2026, 12, 9, 7, 15)
    assert content.original_message_id == "ENC-20261208-0001"
    assert content.original_message_name == "pain.008.001.02"
    assert content.group_status == "PART"
    assert not content.file_rejected


def test_pain002_gives_one_reject_per_code_of_the_issue():
    facts = by_e2e(read("pain.002.001.03-rejects.xml"))
    codes = [facts[f"E2E-{n:04d}"].reason_code for n in range(1, len(ISSUE_CODES) + 1)]
    assert codes == ISSUE_CODES
    assert {fact.kind for fact in facts.values()} == {"reject"}


def test_pain002_reject_fields():
    am04 = by_e2e(read("pain.002.001.03-rejects.xml"))["E2E-0007"]
    assert am04.reason_code == "AM04"
    assert am04.amount == eur("17.07")
    assert am04.fee == eur("2.50")
    assert am04.original_message_id == "ENC-20261208-0001"
    assert am04.original_payment_info_id == "ENC-B-0001"
    assert am04.mandate_reference == "UMR-0007"
    assert am04.bank_reference == "BK-0007"
    assert am04.collection_date == date(2026, 12, 10)
    assert am04.booked_on is None
    ac04 = by_e2e(read("pain.002.001.03-rejects.xml"))["E2E-0002"]
    assert (ac04.fee, ac04.additional_info) == (None, "Account closed")


def test_pain002_accepted_transactions_give_no_fact_and_proprietary_codes_are_kept():
    facts = by_e2e(read("pain.002.001.03-rejects.xml"))
    assert "E2E-0026" not in facts  # ACSC
    assert facts["E2E-0027"].reason_code == "X123"


def test_pain002_rejected_batch_is_reported_and_its_reason_goes_to_listed_transactions():
    content = read("pain.002.001.03-rejects.xml")
    assert content.rejected_batches == (RejectedBatch(payment_info_id="ENC-B-0002", reason_codes=("MS03",)),)
    assert by_e2e(content)["E2E-0028"].reason_code == "MS03"


def test_pain002_whole_batch_rejected_without_transactions():
    content = read("pain.002.001.03-batch-rejected.xml")
    assert content.rejected_batches == (RejectedBatch(payment_info_id="ENC-B-0001", reason_codes=("AG02",)),)
    assert content.facts == ()
    assert not content.file_rejected


def test_pain002_whole_file_rejected():
    content = read("pain.002.001.03-file-rejected.xml")
    assert content.file_rejected
    assert content.group_status == "RJCT"
    assert content.group_reasons == ("FF01",)
    assert content.facts == ()
    assert content.rejected_batches == ()


def test_pain002_all_accepted_gives_nothing_to_do():
    content = read("pain.002.001.03-accepted.xml")
    assert (content.group_status, content.file_rejected, content.facts) == ("ACCP", False, ())


def test_pain002_version_10_reads_the_same_without_a_schema():
    content = read("pain.002.001.10-two-rejects.xml")
    assert content.version == "pain.002.001.10"
    assert not content.schema_checked
    facts = by_e2e(content)
    assert facts["E2E-INV-2026-0002"].reason_code == "AC04"
    assert facts["E2E-INV-2026-0002"].amount == eur("99.99")
    assert facts["E2E-INV-2026-0003"].fee == eur("2.50")
    assert facts["E2E-INV-2026-0003"].mandate_reference == "UMR-0003"


# --- camt.054 -----------------------------------------------------------------------------------------------


@pytest.fixture(params=["camt.054.001.02-returns.xml", "camt.054.001.04-returns.xml"])
def camt(request):
    return read(request.param)


def test_camt054_header(camt):
    assert camt.kind == "camt.054"
    assert camt.schema_checked
    assert camt.message_id == "BANK-NTF-20261215-0001"
    assert camt.created_at == datetime(2026, 12, 15, 6, 0)


def test_camt054_return_with_fee_on_the_entry(camt):
    am04 = by_e2e(camt)["E2E-0101"]
    assert am04.kind == "return"
    assert am04.reason_code == "AM04"
    assert am04.amount == eur("12.50")
    assert am04.fee == eur("3.00")
    assert am04.booked_on == date(2026, 12, 14)
    assert am04.original_message_id == "ENC-20261208-0001"
    assert am04.original_payment_info_id == "ENC-B-0001"
    assert am04.mandate_reference == "UMR-0101"
    assert am04.bank_reference == "TX-E2E-0101"
    assert am04.additional_info == "Insufficient funds"


def test_camt054_return_without_fee(camt):
    ac04 = by_e2e(camt)["E2E-0102"]
    assert (ac04.kind, ac04.reason_code, ac04.amount, ac04.fee) == ("return", "AC04", eur("40.00"), None)


def test_camt054_md06_is_a_refund_and_falls_back_to_the_entry_reference(camt):
    refund = by_e2e(camt)["E2E-0103"]
    assert (refund.kind, refund.reason_code, refund.amount) == ("refund", "MD06", eur("50.00"))
    assert refund.bank_reference == "BK-R-0003"
    assert refund.original_payment_info_id is None
    assert refund.booked_on == date(2026, 12, 15)


def test_camt054_batched_entry_gives_one_fact_per_transaction_with_its_own_amount_and_fee(camt):
    facts = by_e2e(camt)
    batched = [facts["E2E-0104"], facts["E2E-0105"], facts["E2E-0106"]]
    assert [(f.kind, f.reason_code, f.amount, f.fee) for f in batched] == [
        ("return", "MD07", eur("10.00"), None),
        ("return", "MD01", eur("20.00"), eur("1.50")),
        ("return", "AC06", eur("30.00"), None),
    ]


def test_camt054_credit_entry_confirms_settlement(camt):
    facts = by_e2e(camt)
    settled = [facts["E2E-0201"], facts["E2E-0202"]]
    assert [(f.kind, f.amount, f.reason_code, f.booked_on) for f in settled] == [
        ("settled", eur("100.00"), "", date(2026, 12, 10)),
        ("settled", eur("200.00"), "", date(2026, 12, 10)),
    ]


def test_camt054_pending_entries_and_ordinary_debits_give_no_fact(camt):
    assert "E2E-0301" not in by_e2e(camt)
    assert None not in by_e2e(camt)
    assert len(camt.facts) == 8


def test_camt054_versions_02_and_04_say_the_same():
    assert read("camt.054.001.02-returns.xml").facts == read("camt.054.001.04-returns.xml").facts


def test_camt054_version_08_without_a_schema():
    content = read("camt.054.001.08-return-and-refund.xml")
    assert (content.version, content.schema_checked) == ("camt.054.001.08", False)
    facts = by_e2e(content)
    assert (facts["E2E-INV-2026-0001"].kind, facts["E2E-INV-2026-0001"].fee) == ("return", eur("3.00"))
    assert (facts["E2E-INV-2026-0005"].kind, facts["E2E-INV-2026-0005"].amount) == ("refund", eur("50.00"))


# --- same file, same facts ----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(p.name for p in DATA.glob("*.xml")))
def test_reading_a_file_twice_gives_equal_facts(name):
    assert read(name) == read(name)


# --- refusals -----------------------------------------------------------------------------------------------


def refused(data: bytes) -> str:
    with pytest.raises(BankFileInvalid) as error:
        read_bank_file(data)
    assert error.value.code == "bank_file_invalid"
    return str(error.value)


@pytest.mark.parametrize("data", [b"", b"  \n "])
def test_empty_file_refused(data):
    assert "empty" in refused(data)


def test_not_xml_refused():
    assert "not well-formed XML" in refused(b"E2E-0001;AM04;12.50\n")


def test_truncated_xml_refused():
    assert "not well-formed XML" in refused(SAMPLE[: len(SAMPLE) // 2])


def test_other_xml_refused():
    assert "not an ISO 20022 message" in refused(b"<invoice><total>12</total></invoice>")


@pytest.mark.parametrize("version", ["pain.008.001.02", "camt.053.001.02", "pain.002.001.05"])
def test_other_iso_message_refused(version):
    data = f'<Document xmlns="urn:iso:std:iso:20022:tech:xsd:{version}"/>'.encode()
    message = refused(data)
    assert f"{version} is not a supported message" in message
    assert "pain.002.001.03" in message


def test_pain008_sample_refused():
    data = (DATA / "pain.002.001.03-accepted.xml").read_bytes().replace(b"pain.002.001.03", b"pain.008.001.02")
    assert "pain.008.001.02 is not a supported message" in refused(data)


def test_file_against_the_schema_refused_with_its_first_errors_and_lines():
    data = SAMPLE.replace(b"<TxSts>RJCT</TxSts>", b"<TxSts>NOPE</TxSts>", 1)
    message = refused(data)
    assert "does not follow the pain.002.001.03 schema" in message
    assert "line " in message
    assert "NOPE" in message


def test_bad_amount_refused_by_the_schema():
    data = (DATA / "camt.054.001.02-returns.xml").read_bytes().replace(b'Ccy="EUR">12.50', b'Ccy="EUR">12,50', 1)
    assert "camt.054.001.02 schema" in refused(data)


def test_unknown_element_refused_where_no_schema_is_kept():
    data = (DATA / "pain.002.001.10-two-rejects.xml").read_bytes().replace(b"<Agt>", b"<Pty>").replace(
        b"</Agt>", b"</Pty>")
    assert "does not follow the pain.002.001.10 message" in refused(data)


def test_unknown_currency_refused():
    data = (DATA / "pain.002.001.10-two-rejects.xml").read_bytes().replace(b'Ccy="EUR">99.99', b'Ccy="QQQ">99.99')
    assert "QQQ" in refused(data)


BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE Document [
  <!ENTITY lol "lol">
  <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
  <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
  <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
  <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
  <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
  <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
  <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
  <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
  <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:pain.002.001.03"><CstmrPmtStsRpt><GrpHdr>
<MsgId>&lol9;</MsgId><CreDtTm>2026-12-09T07:15:00</CreDtTm></GrpHdr></CstmrPmtStsRpt></Document>
"""


def test_billion_laughs_refused():
    # libxml2 stops the amplification itself, and any DOCTYPE that gets through is refused: either way, refused.
    message = refused(BILLION_LAUGHS)
    assert "DOCTYPE" in message or "amplification" in message
    assert "lollol" not in message


def test_external_entity_refused_and_never_read(tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET")
    data = SAMPLE.replace(
        b'<?xml version="1.0" encoding="UTF-8"?>',
        f'<?xml version="1.0" encoding="UTF-8"?><!DOCTYPE Document [<!ENTITY x SYSTEM "file://{secret}">]>'.encode(),
    ).replace(b"BANK-STS-20261209-0001", b"&x;")
    message = refused(data)
    assert "DOCTYPE" in message
    assert "TOP-SECRET" not in message
