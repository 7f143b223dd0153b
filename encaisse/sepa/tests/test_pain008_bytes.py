"""The pain.008 writer's shortcuts: values spliced into sepaxml's bytes, checks remembered per file.

write_pain008 no longer edits a parsed tree and serialises it again: it sets
our ids in the bytes sepaxml wrote, transliterates names itself (sepaxml's
clean=True, once per character) and remembers the IBANs and BICs it already
checked. These tests pin what that relies on: the file is exactly what lxml
would write for it, text is what sepaxml's own transliteration gives, amendments
land on their debit, and a remembered check never lets a bad value through.
"""

import pytest
from lxml import etree
from text_unidecode import unidecode

from encaisse.core.money import Money
from encaisse.sepa.pain008 import Amendment, Creditor, InvalidCreditor, InvalidDebit, write_pain008
from encaisse.sepa.tests.test_pain008 import CREATED, DEC_10, DEC_11, MSG_ID, SCHEMAS, creditor, debit, write

TRICKY_NAMES = [
    "Zoé Müller", "A & B <Cie> \"x\" 'y' ]]>", "Line\r\nbreak\rand cr", "Ωmega 北京 ﬁ ½ ™", "Tab\there",
    "Ærøskøbing Straße", "É" * 80, "x\r" * 40, "Jose\u0301 \u00a0nbsp",
]


def many_debits():
    amendments = [None, Amendment(same_mandate_new_account=True),
                  Amendment(original_mandate_reference="OLD-UMR", original_iban="FR14 2004 1010 0505 0001 3M02 606"),
                  Amendment(original_mandate_reference="OLD-UMR-2"), Amendment(original_iban="BE68539007547034")]
    return [debit(f"E2E-{n}'(x)", 100 + n, debtor_name=TRICKY_NAMES[n % len(TRICKY_NAMES)],
                  remittance=f"Facture n° {n} – {TRICKY_NAMES[(n + 3) % len(TRICKY_NAMES)]}" * 3,
                  sequence_type=("FRST", "RCUR", "OOFF", "FNAL")[n % 4], collection_date=(DEC_10, DEC_11)[n % 2],
                  mandate_reference=f"UMR-{n}", bic=(None, "cobadeffxxx")[n % 2],
                  amendment=amendments[n % len(amendments)])
            for n in range(40)]


@pytest.mark.parametrize("schema", SCHEMAS)
@pytest.mark.parametrize("creditor_bic", ["AGRIFRPPXXX", None])
def test_the_file_is_byte_for_byte_what_lxml_writes_for_it(schema, creditor_bic):
    # What the writer did before the byte splices: parse sepaxml's output, edit, serialise with lxml.
    if creditor_bic is None and schema == "pain.008.001.02":
        pytest.skip("pain.008.001.02 needs the creditor's BIC")
    output = write(many_debits(), schema=schema, name="Régie & <Eaux>\r\nde Montélimar", bic=creditor_bic)

    declaration = b'<?xml version="1.0" encoding="UTF-8"?>\n'
    assert output.xml.startswith(declaration)
    body = output.xml[len(declaration):]
    assert etree.tostring(etree.fromstring(body)) == body
    assert b"\r" not in output.xml


def test_names_and_remittances_are_transliterated_as_sepaxml_does_and_read_back_as_written():
    debits = [debit(f"E2E-{n}", debtor_name=name, remittance=name * 4) for n, name in enumerate(TRICKY_NAMES)]
    output = write(debits, name=" Régie des Eaux de Montélimar ")

    root = etree.fromstring(output.xml)
    ns = {"p": etree.QName(root).namespace}
    names = [node.text for node in root.iterfind(".//p:DrctDbtTxInf/p:Dbtr/p:Nm", ns)]
    remittances = [node.text for node in root.iterfind(".//p:DrctDbtTxInf/p:RmtInf/p:Ustrd", ns)]

    def sepaxml_clean(value, limit):  # sepaxml's clean=True, then the XML parser's line-end normalisation
        return unidecode(value.strip())[:limit].replace("\r\n", "\n").replace("\r", "\n")

    assert names == [sepaxml_clean(name, 70) for name in TRICKY_NAMES]
    assert remittances == [sepaxml_clean(name * 4, 140) for name in TRICKY_NAMES]
    assert root.findtext(".//p:GrpHdr/p:InitgPty/p:Nm", namespaces=ns) == "Regie des Eaux de Montelimar"
    assert all(name.isascii() for name in names + remittances)


@pytest.mark.parametrize("schema", SCHEMAS)
def test_amendments_land_on_their_debit_whatever_the_batch_order(schema):
    # E2E-3 comes first in the file (its batch opened first) but is amended, like E2E-1 in the last batch.
    debits = [debit("E2E-3", sequence_type="FRST", mandate_reference="UMR-3",
                    amendment=Amendment(original_mandate_reference="OLD-3")),
              debit("E2E-1", mandate_reference="UMR-1", amendment=Amendment(same_mandate_new_account=True)),
              debit("E2E-2", mandate_reference="UMR-2")]
    output = write(debits, schema=schema)

    root = etree.fromstring(output.xml)
    ns = {"p": etree.QName(root).namespace}
    amended = {tx.findtext("p:PmtId/p:EndToEndId", namespaces=ns):
               (tx.findtext(".//p:AmdmntInfDtls/p:OrgnlMndtId", namespaces=ns),
                tx.findtext(".//p:AmdmntInfDtls/p:OrgnlDbtrAcct/p:Id/p:Othr/p:Id", namespaces=ns))
               for tx in root.iterfind(".//p:DrctDbtTxInf", ns)}
    assert amended == {"E2E-3": ("OLD-3", None), "E2E-1": (None, "SMNDA"), "E2E-2": (None, None)}
    assert [b.payment_info_id for b in output.batches] == [f"{MSG_ID}-1", f"{MSG_ID}-2"]


@pytest.mark.parametrize("bad_iban", ["DE89370400440532013001", "DE89 3704 0044 0532 0130 01",
                                      "de89370400440532013000x"])
def test_a_remembered_iban_never_lets_a_different_invalid_one_through(bad_iban):
    # The valid IBAN is checked (and remembered) first; the next debit's IBAN differs only slightly.
    with pytest.raises(InvalidDebit, match="not a valid IBAN") as refused:
        write([debit("E2E-1"), debit("E2E-2", iban="DE89 3704 0044 0532 0130 00"), debit("E2E-3", iban=bad_iban)])

    assert "no. 3 (end-to-end id E2E-3)" in str(refused.value)


def test_an_invalid_iban_is_refused_each_time_it_comes():
    with pytest.raises(InvalidDebit, match="not a valid IBAN") as refused:
        write([debit("E2E-1"), debit("E2E-2", iban="DE89370400440532013001"),
               debit("E2E-3", iban="DE89370400440532013001")])
    assert "no. 2 (end-to-end id E2E-2)" in str(refused.value)

    # The same bad IBAN after the same good one, in the next file: refused again, at its own position.
    with pytest.raises(InvalidDebit, match="not a valid IBAN") as refused:
        write([debit("E2E-1"), debit("E2E-2"), debit("E2E-3", iban="DE89370400440532013001")])
    assert "no. 3 (end-to-end id E2E-3)" in str(refused.value)


def test_a_remembered_bic_never_lets_a_different_invalid_one_through():
    with pytest.raises(InvalidDebit, match="not a valid BIC") as refused:
        write([debit("E2E-1", bic="COBADEFFXXX"), debit("E2E-2", bic="COBADEFFXX")])

    assert "no. 2 (end-to-end id E2E-2)" in str(refused.value)


def test_remembered_ibans_and_bics_are_written_compact_for_every_debit():
    debits = [debit(f"E2E-{n}", iban="de89 3704 0044 0532 0130 00", bic=" cobadeffxxx ") for n in range(3)]
    output = write(debits)

    assert output.xml.count(b"<IBAN>DE89370400440532013000</IBAN>") == 3
    assert output.xml.count(b"<BIC>COBADEFFXXX</BIC>") == 3


def test_the_debtor_fields_may_be_the_very_same_objects_in_every_debit():
    # A caller building debits from one mandate row passes the same str objects again and again.
    iban, name = "FR7630006000011234567890189", "Débiteur"
    debits = [debit(f"E2E-{n}", iban=iban, debtor_name=name, amount=Money(n + 1, "EUR")) for n in range(5)]
    output = write_pain008(creditor=creditor(), debits=debits, message_id=MSG_ID, created_at=CREATED)

    assert output.number_of_transactions == 5
    assert output.control_sum == Money(15, "EUR")
    assert output.xml.count(b"<Nm>Debiteur</Nm>") == 5


def test_a_creditor_name_is_cut_to_70_characters_after_transliteration():
    output = write_pain008(creditor=Creditor(name="É" * 100, iban="FR7630006000011234567890189", bic="AGRIFRPPXXX",
                                             creditor_id="FR72ZZZ123456"),
                           debits=[debit()], message_id=MSG_ID, created_at=CREATED)

    assert output.xml.count(b"<Nm>" + b"E" * 70 + b"</Nm>") == 2  # initiating party and creditor


def test_sepaxml_transliteration_leaves_ascii_as_it_is():
    # The writer skips transliterating ASCII text on this ground.
    assert all(unidecode(chr(codepoint)) == chr(codepoint) for codepoint in range(128))


@pytest.mark.parametrize("field", ["debtor_name", "remittance"])
@pytest.mark.parametrize("control", ["\x00", "\x0b", "\x1f"])
def test_a_control_character_xml_cannot_hold_is_refused_naming_the_debit(field, control):
    # sepaxml would write it, and the file could not be parsed back (lxml's XMLSyntaxError, naming nothing).
    with pytest.raises(InvalidDebit, match="control character") as refused:
        write([debit("E2E-1"), debit("E2E-2", **{field: f"Dupont{control}Martin"})])

    assert "no. 2 (end-to-end id E2E-2)" in str(refused.value)


def test_a_control_character_in_the_creditor_name_is_refused():
    with pytest.raises(InvalidCreditor, match="control character"):
        write([debit()], name="Régie\x0cdes Eaux")
