"""Why an import is refused as a whole, and why one line of a file is rejected.

A refusal (another organisation's partner, a period that is not a month) is a
DomainError: nothing is written. A rejected line is normal input: the rest of
the file is imported and the report names the line, its text and one of the
reason codes below, with a message in the language of the import.
"""

from django.utils.translation import gettext_lazy as _

from encaisse.core.errors import DomainError


class ForeignPartner(DomainError):
    code = "foreign_partner"
    message = _("Partner %(partner)s belongs to another organisation.")


class PartnerInactive(DomainError):
    code = "partner_inactive"
    message = _("Partner %(partner)s is inactive: its files are no longer imported.")


class PeriodNotAMonth(DomainError):
    code = "period_not_a_month"
    message = _("%(period)s is not the first day of a month: an import bills one whole month.")


# The message of formats.UnreadableFile for a file with a header and nothing under it.
NO_LINES = _("The file has no lines to import, only its header.")


# The reason codes of rejected lines (stable: the API, the CLI and the back
# office show them) and the message of each. Messages take %(field)s,
# %(value)s, %(period)s or %(limit)s as their reason needs.
UNKNOWN_CUSTOMER = "unknown_customer"
UNKNOWN_SERVICE = "unknown_service"
MISSING_FIELD = "missing_field"
NOT_A_NUMBER = "not_a_number"
NON_POSITIVE_QUANTITY = "non_positive_quantity"
DATE_OUTSIDE_PERIOD = "date_outside_period"
AMOUNT_TOO_LARGE = "amount_too_large"
INVOICE_NOT_DRAFT = "invoice_not_draft"

REASONS = {
    UNKNOWN_CUSTOMER: _("No customer has the reference “%(value)s”."),
    UNKNOWN_SERVICE: _("The service code “%(value)s” is not mapped to a product for this partner."),
    MISSING_FIELD: _("The %(field)s is missing."),
    NOT_A_NUMBER: _("The %(field)s “%(value)s” is not a number."),
    NON_POSITIVE_QUANTITY: _("The quantity must be more than zero, not %(value)s."),
    DATE_OUTSIDE_PERIOD: _("“%(value)s” is not a date within %(period)s."),
    AMOUNT_TOO_LARGE: _("The amount %(value)s is above the largest amount allowed for a line, %(limit)s."),
    INVOICE_NOT_DRAFT: _("The invoice of customer %(value)s for %(period)s is already %(status)s: "
                         "only drafts take imported lines."),
}

# How the report names a file's field in the messages above.
FIELD_NAMES = {
    "customer": _("customer reference"),
    "service": _("service code"),
    "quantity": _("quantity"),
    "unit_price": _("unit price"),
    "date": _("date"),
    "label": _("label"),
    "comment": _("comment"),
}
