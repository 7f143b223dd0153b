"""Legal identifiers checked with python-stdnum, so a typo is caught at the form, not at the tax office."""

from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _
from stdnum.eu import at_02 as creditor_identifier  # the SEPA creditor identifier (AT-02 in the rulebook)
from stdnum.eu import vat
from stdnum.exceptions import ValidationError as StdnumError
from stdnum.fr import siren, siret


def _check(module, value: str, message: str) -> str:
    try:
        return module.validate(value)
    except StdnumError as error:
        raise ValidationError(message, code="invalid", params={"value": value}) from error


def validate_siren(value: str) -> None:
    _check(siren, value, _("%(value)s is not a valid SIREN (9 digits with a valid check digit)."))


def validate_siret(value: str) -> None:
    _check(siret, value, _("%(value)s is not a valid SIRET (14 digits with a valid check digit)."))


def validate_vat(value: str) -> None:
    _check(vat, value, _("%(value)s is not a valid EU VAT number."))


def validate_creditor_id(value: str) -> None:
    _check(creditor_identifier, value, _("%(value)s is not a valid SEPA creditor identifier (ICS)."))


def compact(module_name: str, value: str) -> str:
    modules = {"siren": siren, "siret": siret, "vat": vat, "creditor_id": creditor_identifier}
    return modules[module_name].compact(value) if value else value
