"""Errors meant for the user: a stable code for machines, a translated message for people.

Anticipated problems (an unbalanced entry, a closed period, a bad CSV row) are
DomainError subclasses; interfaces turn them into form errors, 409 answers or
exit code 1. Anything else is a bug and is allowed to crash loudly.
"""

from typing import Any

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _


class DomainError(Exception):
    code: str = "domain_error"
    message: str | Promise = _("The operation was refused.")

    def __init__(self, message: str | Promise | None = None, **params: Any) -> None:
        if message is not None:
            self.message = message
        self.params = params
        super().__init__(str(self))

    def __str__(self) -> str:
        text = str(self.message)
        return text % self.params if self.params else text

    def as_dict(self) -> dict[str, Any]:
        return {"code": self.code, "message": str(self)}


class CurrencyMismatch(DomainError):
    code = "currency_mismatch"
    message = _("Amounts in %(left)s and %(right)s cannot be combined.")

    def __init__(self, left: Any, right: Any) -> None:
        super().__init__(left=left.currency, right=right.currency)


class ImmutableRecord(DomainError):
    code = "immutable_record"
    message = _("%(model)s %(pk)s is posted and can never be changed or deleted; record a correction instead.")


class NotFound(DomainError):
    code = "not_found"
    message = _("%(what)s %(key)s does not exist.")
