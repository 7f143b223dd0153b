"""What the direct-debit tests share: a creditor ready to collect, mandates, posted invoices, bank answers."""

from datetime import date
from typing import Any

from encaisse.invoicing.models import Invoice
from encaisse.invoicing.tests.factories import posted_invoice
from encaisse.parties.models import Customer
from encaisse.sepa.debits import schedule_direct_debit
from encaisse.sepa.models import DirectDebit, Mandate

ICS = "FR72ZZZ123456"
CREDITOR_IBAN = "FR7630004000031234567890143"
DEBTOR_IBAN = "FR7630006000011234567890189"
OTHER_IBAN = "DE89370400440532013000"
TODAY = date(2026, 3, 2)  # a Monday; invoices are posted on 1 March 2026


def make_mandate(customer: Customer, reference: str, **extra: Any) -> Mandate:
    values = {"iban": DEBTOR_IBAN, "signed_on": date(2026, 1, 5), "account_holder": customer.name} | extra
    return Mandate.objects.create(organisation=customer.organisation, customer=customer, reference=reference,
                                  **values)


def schedule(mandate: Mandate, clerk: Any, *, invoice: Invoice | None = None, key: str | None = None,
             today: date = TODAY, prenotification_days: int = 14, price: str = "50.00") -> DirectDebit:
    invoice = invoice or posted_invoice(mandate.organisation, mandate.customer, clerk, price)
    return schedule_direct_debit(mandate=mandate, invoice=invoice, line=invoice.receivable_line,
                                 amount=invoice.total, due_on=today, today=today,
                                 prenotification_days=prenotification_days, key=key or f"test:{invoice.pk}")
