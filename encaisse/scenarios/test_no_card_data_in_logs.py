"""No card number, CVC or full IBAN reaches the logs, nor what the flows store about payments and mandates.

The real flows run with every logger at DEBUG, captured through the filters
of the handlers the project's LOGGING configured (so a filter missing there
fails here); then everything they wrote is searched for the numbers typed.
"""

import json
import logging
import re
from collections.abc import Iterator
from datetime import date

import pytest
from django.conf import settings
from django.core import mail
from django.test import Client

from encaisse.api.tests.test_pay_online import checkout, pay, posted
from encaisse.core.logsafety import RedactCardData
from encaisse.core.models import AuditEvent
from encaisse.notifications.models import OutboxMessage
from encaisse.onboarding.customers import import_customers
from encaisse.payments.models import InboundEvent, PaymentAttempt, ProviderAccount
from encaisse.sepa.models import Mandate

CARD_OK, CARD_DECLINED, CARD_UNKNOWN = "4242 4242 4242 4242", "4000 0000 0000 0002", "5555 5555 5555 4444"
IBAN_FR, IBAN_DE = "FR76 3000 6000 0112 3456 7890 189", "DE89 3704 0044 0532 0130 00"
SECRETS = [CARD_OK, CARD_DECLINED, CARD_UNKNOWN, IBAN_FR, IBAN_DE]


def compact(text: str) -> str:
    return re.sub(r"[\s\-]", "", text)


def leaks(text: str) -> list[str]:
    """The secrets found in `text`, however they were spaced."""
    flat = compact(text)
    return [secret for secret in SECRETS if compact(secret) in flat]


class Capture(logging.Handler):
    def __init__(self, filters: list[logging.Filter]) -> None:
        super().__init__(logging.DEBUG)
        self.filters = list(filters)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(logging.Formatter("%(name)s %(message)s").format(record))


@pytest.fixture
def logs() -> Iterator[Capture]:
    """Every record at DEBUG, through the filters of the configured root handler (django's do not propagate)."""
    configured = [h for h in logging.getLogger().handlers if not type(h).__module__.startswith("_pytest")]
    assert configured, "the project's LOGGING gives the root logger its handler"
    filters = configured[0].filters
    assert any(isinstance(f, RedactCardData) for f in filters)
    capture = Capture(filters)
    loggers = [logging.getLogger(name) for name in (None, *settings.LOGGING["loggers"])]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.DEBUG)
        if not logger.propagate or logger is loggers[0]:
            logger.addHandler(capture)
    yield capture
    for logger, level in zip(loggers, levels, strict=True):
        logger.setLevel(level)
        logger.removeHandler(capture)


def stored_text() -> str:
    """What the flows stored about attempts, provider events, audit and email."""
    rows = [
        *PaymentAttempt.objects.values("request", "response", "message", "decline_code"),
        *InboundEvent.objects.values("payload"),
        *AuditEvent.objects.values("data", "verb"),
        *OutboxMessage.objects.values("subject", "body_text", "body_html"),
    ]
    return json.dumps(rows, default=str)


@pytest.fixture
def sandbox(org) -> ProviderAccount:
    return ProviderAccount.objects.create(organisation=org, provider="sandbox", code="pressing-sandbox",
                                          name="Carte (sandbox)", settings={"settle_after_seconds": 0})


@pytest.mark.django_db
def test_paying_on_the_sandbox_page_logs_and_stores_no_card_number(client, org, customer, clerk, sandbox, logs):
    paid, declined, refused = (posted(org, customer, clerk, price) for price in ("50.00", "20.00", "10.00"))
    attempt, session = checkout(customer, paid, sandbox)
    pay(client, session, CARD_OK)
    declined_attempt, session = checkout(customer, declined, sandbox, "24.00")
    pay(client, session, CARD_DECLINED)
    _unknown, session = checkout(customer, refused, sandbox, "12.00")
    assert pay(client, session, CARD_UNKNOWN).status_code == 400  # the page refuses a card it does not know

    attempt.refresh_from_db()
    declined_attempt.refresh_from_db()
    assert (attempt.status, declined_attempt.status) == ("succeeded", "declined")
    assert logs.lines, "the flows logged nothing: this test would prove nothing"
    assert leaks("\n".join(logs.lines)) == []
    assert leaks(stored_text()) == []


@pytest.mark.django_db
def test_a_server_error_on_the_sandbox_page_logs_and_emails_no_card_number(org, customer, clerk, sandbox, logs,
                                                                           settings):
    settings.DEBUG = False
    settings.ADMINS = ["ops@example.org"]
    _attempt, session = checkout(customer, posted(org, customer, clerk, "50.00"), sandbox)
    sandbox.provider = "stripe"  # its secrets are not set: the page cannot build the adapter
    sandbox.save()

    response = pay(Client(raise_request_exception=False), session, CARD_OK)

    assert response.status_code == 500
    assert any("Internal Server Error" in line for line in logs.lines)
    report = [message.subject + message.body for message in mail.outbox]
    assert report, "the error email to the admins was not sent: this test would prove nothing"
    assert "card_number" in report[0]  # the report shows the POST data, with the number masked
    assert leaks("\n".join(logs.lines + report)) == []


@pytest.mark.django_db
def test_importing_customers_with_their_mandates_logs_and_stores_no_iban(org, clerk, logs):
    csv = ("ref;name;iban;bic;mandate_ref;mandate_signed_on\n"
           f"C100;Jeanne Martin;{IBAN_FR};;UMR-C100;2026-01-02\n"
           f"C101;Hans Weber;{compact(IBAN_DE)};;UMR-C101;2026-01-03\n")

    report = import_customers(organisation=org, file=csv.encode(), by=clerk, today=date(2026, 1, 5))

    assert report.mandates_created == 2
    mandate = Mandate.objects.get(reference="UMR-C100")
    logging.getLogger("encaisse.sepa").info("mandate %s recorded for %s", mandate, mandate.iban)
    assert leaks("\n".join(logs.lines)) == []
    assert leaks(stored_text()) == []


def test_an_exception_carrying_an_iban_and_a_card_is_logged_masked(logs):
    try:
        raise RuntimeError(f"debit of {IBAN_DE} failed, then card {CARD_OK} was refused")
    except RuntimeError:
        logging.getLogger("encaisse.payments.online").exception("collection failed for %s", IBAN_FR)

    (line,) = [line for line in logs.lines if "collection failed" in line]
    assert "FR••••0189" in line
    assert "RuntimeError: debit of DE••••3000 failed, then card ••••4242 was refused" in line
    assert leaks(line) == []
