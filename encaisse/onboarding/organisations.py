"""Creating an organisation that can invoice at once."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import translation
from django.utils.translation import gettext

from encaisse.core.audit import record_event
from encaisse.core.errors import DomainError
from encaisse.invoicing.models import InvoiceSeries, InvoiceType, PaymentMethod, Regie, VatRate
from encaisse.ledger.models import Account, Journal
from encaisse.ledger.services import account_of_kind, create_default_chart, journal_of_kind
from encaisse.parties.models import Membership, Organisation
from encaisse.parties.validators import compact


class InvalidOrganisation(DomainError):
    code = "invalid_organisation"
    message = "%(field)s: %(reason)s"


# French VAT rates (CGI art. 278 ff.): standard, intermediate, reduced, special, exempt.
FRENCH_VAT_RATES = [
    ("FR20", "TVA 20 %", Decimal("20.00")),
    ("FR10", "TVA 10 %", Decimal("10.00")),
    ("FR55", "TVA 5,5 %", Decimal("5.50")),
    ("FR21", "TVA 2,1 %", Decimal("2.10")),
    ("EXO", "Exonéré / non soumis", Decimal("0.00")),
]


@transaction.atomic
def create_organisation(
    *, name: str, slug: str, currency: str = "EUR", siren: str = "", siret: str = "", vat_number: str = "",
    creditor_id: str = "", language: str = "fr", default_payment_delay_days: int = 30, by: Any = None,
    **extra: Any,
) -> Organisation:
    """Create an organisation with its chart of accounts, journals, VAT rates and one default invoice type.

    Identifiers are validated (python-stdnum) and stored compact. Refuses a slug
    already taken. The caller, when staff, becomes its manager.
    """
    organisation = Organisation(
        name=name, slug=slug, currency=currency.upper(), siren=compact("siren", siren),
        siret=compact("siret", siret), vat_number=compact("vat", vat_number),
        creditor_id=compact("creditor_id", creditor_id), language=language,
        default_payment_delay_days=default_payment_delay_days, **extra,
    )
    try:
        organisation.full_clean()
    except ValidationError as error:
        field, messages = next(iter(error.message_dict.items()))
        raise InvalidOrganisation(field=field, reason=" ".join(messages)) from error
    organisation.save()
    with translation.override(language):
        create_default_chart(organisation)
        _create_invoicing_defaults(organisation)
    if getattr(by, "is_authenticated", False):
        Membership.objects.get_or_create(organisation=organisation, user=by,
                                         defaults={"role": Membership.Role.MANAGER})
    record_event(organisation, "created", by=by)
    return organisation


def _create_invoicing_defaults(organisation: Organisation) -> None:
    tax = account_of_kind(organisation, Account.Kind.TAX)
    for code, label, percent in FRENCH_VAT_RATES:
        VatRate.objects.get_or_create(organisation=organisation, code=code,
                                      defaults={"name": label, "percent": percent, "account": tax})
    invoices, _ = InvoiceSeries.objects.get_or_create(organisation=organisation, code="F", defaults={"prefix": "F"})
    credits, _ = InvoiceSeries.objects.get_or_create(organisation=organisation, code="AV", defaults={"prefix": "AV"})
    regie, _ = Regie.objects.get_or_create(
        organisation=organisation, code="PRINCIPALE",
        defaults={
            "name": gettext("Main collection office"),
            "journal": journal_of_kind(organisation, Journal.Kind.BANK),
            "bank_account": account_of_kind(organisation, Account.Kind.BANK),
            "allowed_methods": [PaymentMethod.CARD, PaymentMethod.SEPA_DEBIT, PaymentMethod.TRANSFER,
                                PaymentMethod.CHEQUE],
        },
    )
    InvoiceType.objects.get_or_create(
        organisation=organisation, code="STANDARD",
        defaults={"name": gettext("Invoice"), "regie": regie, "series": invoices, "credit_note_series": credits},
    )
