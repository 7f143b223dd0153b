"""Keep card numbers and IBANs out of the logs, whatever the code that logs them.

Services never log card data on purpose, but a payer's input, a provider's
error message or an exception's text can carry it anyway. The project's
LOGGING puts `RedactCardData` on every handler, so a record is cleaned where
it leaves the process, not where it was written: a payment card number
(13 to 19 digits, spaced or dashed, passing the Luhn check) keeps its last
four digits, an IBAN (passing the ISO 7064 mod-97 check) its country code and
last four. The checksums keep order numbers, timestamps and references
readable: one in ten random numbers passes Luhn, one in 97 a mod-97 check.

Most records hold nothing to redact, so one precompiled scan decides whether
any of the work below is needed.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from django.conf import settings
from django.utils import log as django_log

MASK = "••••"

# What every card number or IBAN contains: 13 digits, spaces or dashes in a row, or two letters, two digits and
# 11 more letters, digits or spaces. Plain character classes keep this one scan cheap; most messages fail it.
_SUSPECT = re.compile(r"[0-9][0-9 -]{12}|[A-Za-z]{2}[0-9]{2}[ A-Za-z0-9]{11}")
# A run of digit groups separated by one space or dash; the card, if any, is some of its groups.
_DIGIT_RUN = re.compile(r"(?<![0-9])[0-9]+(?:[ -][0-9]+)*(?![0-9])")
# Country code, check digits, then up to 30 letters or digits in groups; may run into the words after it.
_IBAN_RUN = re.compile(r"(?<![A-Za-z0-9])[A-Za-z]{2}[0-9]{2}(?: ?[A-Za-z0-9]){11,30}(?![A-Za-z0-9])")


def luhn_ok(digits: str) -> bool:
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = ord(char) - 48
        if position % 2:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


def iban_ok(compact: str) -> bool:
    """ISO 7064 mod 97-10 on an uppercased IBAN without spaces."""
    if not 15 <= len(compact) <= 34:
        return False
    rearranged = compact[4:] + compact[:4]
    return int("".join(str(int(char, 36)) for char in rearranged)) % 97 == 1


def _redact_digit_run(match: re.Match[str]) -> str:
    """Mask the card numbers among a run's groups: the longest window of 13–19 digits passing Luhn, leftmost first."""
    run = match.group()
    pieces = re.split(r"([ -])", run)  # groups at even indexes, separators at odd ones
    groups = pieces[::2]
    if sum(map(len, groups)) < 13:
        return run
    out: list[str] = []
    start = 0
    while start < len(groups):
        found = None
        length = 0
        for end in range(start, len(groups)):
            length += len(groups[end])
            if length > 19:
                break
            if length >= 13 and luhn_ok("".join(groups[start : end + 1])):
                found = end
        if found is None:
            out.append(groups[start])
            start += 1
        else:
            out.append(MASK + "".join(groups[start : found + 1])[-4:])
            start = found + 1
        if start < len(groups):
            out.append(pieces[2 * start - 1])
    return "".join(out)


def _redact_ibans(text: str) -> str:
    """Mask each IBAN: a run may go on into the words after it, so its trailing groups are dropped one by one."""
    out: list[str] = []
    position = 0
    while match := _IBAN_RUN.search(text, position):
        run = match.group()
        cut = len(run)
        while cut >= 15 and not iban_ok(run[:cut].replace(" ", "").upper()):
            cut = run.rfind(" ", 0, cut)
        out.append(text[position : match.start()])
        if cut >= 15:
            compact = run[:cut].replace(" ", "").upper()
            out.append(f"{compact[:2]}{MASK}{compact[-4:]}")
            position = match.start() + cut
        else:  # not an IBAN from here: one may still start at a later word of the run
            out.append(run[:4])
            position = match.start() + 4
    out.append(text[position:])
    return "".join(out)


def redact(text: str) -> str:
    """The text with card numbers and IBANs masked; the very same object when there is nothing to mask."""
    if not _SUSPECT.search(text):
        return text
    cleaned = _redact_ibans(text)
    cleaned = _DIGIT_RUN.sub(_redact_digit_run, cleaned)
    return text if cleaned == text else cleaned


def _redact_value(value: Any) -> Any:
    return redact(value) if isinstance(value, str) else redact(repr(value))


class RedactCardData(logging.Filter):
    """Mask card numbers and IBANs in a record's message, arguments, exception and stack text; never drops one.

    When something is masked, the message is stored already formatted (args
    cleared), since an argument may carry only part of a number.
    """

    _exception_formatter = logging.Formatter()

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken format string: the handler reports it, with the arguments, masked
            record.msg = redact(str(record.msg))
            if isinstance(record.args, dict):
                record.args = {key: _redact_value(value) for key, value in record.args.items()}
            elif record.args:
                record.args = tuple(_redact_value(value) for value in record.args)
        else:
            cleaned = redact(message)
            if cleaned is not message:
                record.msg, record.args = cleaned, None
        if record.exc_info and not record.exc_text:
            # Formatted once here (the handlers reuse exc_text) so the traceback's text is masked too.
            record.exc_text = self._exception_formatter.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


class AdminEmailHandler(django_log.AdminEmailHandler):
    """Django's error email, masked: its report adds the request's POST data and the exception after the filters ran."""

    def emit(self, record: logging.LogRecord) -> None:
        if settings.ADMINS:  # Django skips the report when there is no one to send it to; so do we
            super().emit(record)

    def send_mail(self, subject: str, message: str, *args: Any, **kwargs: Any) -> None:
        if kwargs.get("html_message"):
            kwargs["html_message"] = redact(kwargs["html_message"])
        super().send_mail(redact(subject), redact(message), *args, **kwargs)
