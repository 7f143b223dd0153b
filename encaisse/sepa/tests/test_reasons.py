"""What each R-transaction reason code means for the mandate and for a new attempt."""

import pytest
from django.utils import translation

from encaisse.sepa.reasons import REASONS, REVOKING_CODES, reason

ISSUE_CODES = [
    "AC01", "AC04", "AC06", "AC13", "AG01", "AG02", "AM04", "AM05", "BE05", "CNOR", "DNOR", "FF01", "MD01",
    "MD02", "MD06", "MD07", "MS02", "MS03", "RC01", "RR01", "RR02", "RR03", "RR04", "SL01", "FOCR",
]


@pytest.mark.parametrize("code", ISSUE_CODES)
def test_every_listed_code_is_known_with_an_english_label(code):
    found = reason(code)
    assert found.code == code
    assert found.known
    with translation.override("en"):
        assert str(found.label)
        assert code not in str(found.label)


@pytest.mark.parametrize("code", ["AC04", "AC06", "MD01", "MD07", "AC01", "AC13", "AG01"])
def test_codes_saying_the_account_or_mandate_is_unusable_revoke_the_mandate(code):
    assert reason(code).revokes_mandate
    assert not reason(code).represent


@pytest.mark.parametrize("code", ["AM04", "AM05", "MD06", "MS02", "MS03", "FF01", "BE05", "FOCR", "RR04", "SL01"])
def test_other_codes_keep_the_mandate(code):
    assert not reason(code).revokes_mandate


def test_only_insufficient_funds_and_unexplained_bank_refusal_allow_a_representation():
    assert {code for code, r in REASONS.items() if r.represent} == {"AM04", "MS03"}


def test_file_and_configuration_errors_are_ours():
    ours = {code for code, r in REASONS.items() if r.our_error}
    assert {"AG02", "BE05", "FF01", "MD02", "RC01", "RR03"} <= ours
    assert not ours & {"AM04", "AC04", "MD06", "MD07"}
    assert not ours & REVOKING_CODES


def test_refund_keeps_the_mandate_and_is_not_presented_again():
    refund = reason("MD06")
    assert (refund.revokes_mandate, refund.represent) == (False, False)


def test_lookup_ignores_case_and_spaces():
    assert reason(" am04 ") is REASONS["AM04"]


@pytest.mark.parametrize("code", ["ZZ99", "X123"])
def test_unknown_code_is_kept_raw_and_changes_nothing(code):
    unknown = reason(code)
    assert unknown.code == code
    assert not unknown.known
    assert (unknown.revokes_mandate, unknown.represent, unknown.our_error) == (False, False, False)
    with translation.override("en"):
        assert str(unknown.label) == f"Reason {code} given by the bank"


def test_missing_code_gives_a_neutral_reason():
    missing = reason(None)
    assert missing.code == ""
    assert not missing.revokes_mandate
    with translation.override("en"):
        assert str(missing.label) == "Reason ? given by the bank"


def test_reasons_cannot_be_changed():
    with pytest.raises(AttributeError):
        REASONS["AM04"].represent = False
