"""Card numbers and IBANs are masked in log records by the filter every configured handler carries."""

import io
import logging

import pytest
from django.conf import settings

from encaisse.core.logsafety import RedactCardData, iban_ok, luhn_ok, redact


def record(msg: object, *args: object, exc_info: object = None) -> logging.LogRecord:
    return logging.LogRecord("encaisse.test", logging.INFO, __file__, 1, msg, args or None, exc_info)


def filtered(msg: object, *args: object, exc_info: object = None) -> logging.LogRecord:
    rec = record(msg, *args, exc_info=exc_info)
    assert RedactCardData().filter(rec) is True  # masks, never drops
    return rec


@pytest.mark.parametrize(("card", "shown"), [
    ("4242 4242 4242 4242", "••••4242"),    # Visa, grouped by four
    ("4242424242424242", "••••4242"),       # Visa, as typed in one go
    ("4111-1111-1111-1111", "••••1111"),    # Visa, dashed
    ("4222222222222", "••••2222"),          # Visa, 13 digits
    ("5555 5555 5555 4444", "••••4444"),    # Mastercard
    ("2223003122003222", "••••3222"),       # Mastercard, 2-series
    ("3782 822463 10005", "••••0005"),      # Amex, 4-6-5
    ("371449635398431", "••••8431"),        # Amex, compact
    ("6200 0000 0000 0000 000", "••••0000"),  # 19 digits, last group of three
])
def test_card_numbers_keep_only_their_last_four_digits(card, shown):
    assert redact(f"paid with {card} today") == f"paid with {shown} today"


@pytest.mark.parametrize("text", [
    "order 1234567890123456 shipped",      # 16 digits failing Luhn: an order number, left alone
    "card 4242 4242 ending",               # too short to be a card
    "phone +33 6 12 34 56 78",
    "attempt 42 of invoice F2026-000123 on 2026-03-31, 1 234,56 EUR",
    "ref 12345678901234567890123",         # 23 digits in a row: no card is that long
])
def test_numbers_that_are_not_cards_are_left_alone(text):
    assert redact(text) is text


def test_a_card_beside_other_numbers_is_found_among_the_groups():
    assert redact("1111 4242 4242 4242 4242 2026") == "1111 ••••4242 2026"


@pytest.mark.parametrize(("iban", "shown"), [
    ("FR76 3000 6000 0112 3456 7890 189", "FR••••0189"),
    ("FR7630006000011234567890189", "FR••••0189"),
    ("DE89 3704 0044 0532 0130 00", "DE••••3000"),
    ("de89370400440532013000", "DE••••3000"),  # typed in lower case
    ("GB82 WEST 1234 5698 7654 32", "GB••••5432"),
])
def test_ibans_keep_their_country_and_last_four(iban, shown):
    assert redact(f"debit {iban} is the account") == f"debit {shown} is the account"


def test_two_ibans_in_a_row_are_both_masked_and_a_wrong_check_is_left_alone():
    text = "FR76 3000 6000 0112 3456 7890 189 DE89 3704 0044 0532 0130 00; typo FR77 3000 6000 0112 3456 7890 189"
    assert redact(text) == "FR••••0189 DE••••3000; typo FR77 3000 6000 0112 3456 7890 189"


def test_the_checksums():
    assert luhn_ok("4242424242424242")
    assert not luhn_ok("4242424242424241")
    assert iban_ok("FR7630006000011234567890189")
    assert not iban_ok("FR7630006000011234567890188")


def test_a_message_formatted_from_its_args_is_masked_and_stored_formatted():
    rec = filtered("charge of %s on card %s refused", "12.00 EUR", "4242 4242 4242 4242")
    assert rec.getMessage() == "charge of 12.00 EUR on card ••••4242 refused"
    assert rec.args is None


def test_a_number_split_across_the_message_and_its_args_is_masked():
    assert filtered("card 4242 4242 %s", "4242 4242").getMessage() == "card ••••4242"


def test_mapping_args_and_non_string_args_are_masked():
    assert filtered("%(iban)s", {"iban": "DE89370400440532013000"}).getMessage() == "DE••••3000"
    assert filtered("card %s", 4242424242424242).getMessage() == "card ••••4242"


def test_a_record_with_nothing_to_mask_is_left_as_written():
    rec = filtered("attempt %s: fetch failed", 42)
    assert (rec.msg, rec.args) == ("attempt %s: fetch failed", (42,))


def test_a_broken_format_string_still_has_its_args_masked():
    rec = filtered("card %s %s", "4242424242424242")
    assert "4242424242424242" not in repr(rec.args)


def test_the_exception_text_is_masked():
    try:
        raise ValueError("IBAN FR7630006000011234567890189 refused for card 5555555555554444")
    except ValueError:
        import sys

        rec = filtered("debit failed", exc_info=sys.exc_info())
    text = logging.Formatter().format(rec)
    assert "FR••••0189" in text
    assert "••••4444" in text
    assert "30006000011234567890189" not in text
    assert "5555555555554444" not in text


def _configured_handlers() -> list[logging.Handler]:
    """The handlers the project's LOGGING installed (pytest's own capture handlers are not ours)."""
    names = [None, *settings.LOGGING["loggers"]]
    handlers = [h for name in names for h in logging.getLogger(name).handlers]
    return [h for h in handlers if not type(h).__module__.startswith("_pytest")]


def test_every_configured_handler_masks_and_every_logger_reaches_one():
    handlers = _configured_handlers()
    assert len(handlers) == len(settings.LOGGING["handlers"])
    for handler in handlers:
        assert any(isinstance(f, RedactCardData) for f in handler.filters), handler
    for name in settings.LOGGING["loggers"]:
        logger = logging.getLogger(name)
        assert logger.handlers or logger.propagate, name


def test_the_configured_console_writes_masked_text():
    console = next(h for h in logging.getLogger().handlers if h in _configured_handlers())
    written = io.StringIO()
    stream = console.setStream(written)
    try:
        logging.getLogger("encaisse.payments").warning("card %s declined", "4242 4242 4242 4242")
        logging.getLogger("some.library").warning("IBAN DE89 3704 0044 0532 0130 00")
    finally:
        console.setStream(stream)

    assert written.getvalue() == "card ••••4242 declined\nIBAN DE••••3000\n"
