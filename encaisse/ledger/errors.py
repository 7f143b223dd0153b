from django.utils.translation import gettext_lazy as _

from encaisse.core.errors import DomainError


class UnbalancedEntry(DomainError):
    code = "unbalanced_entry"
    message = _("Entry “%(label)s” does not balance: debits minus credits is %(imbalance)s.")


class PeriodClosed(DomainError):
    code = "period_closed"
    message = _("The period %(period)s is closed: no entry can be dated %(date)s.")


class EmptyEntry(DomainError):
    code = "empty_entry"
    message = _("Entry “%(label)s” has no lines.")


class ForeignAccount(DomainError):
    code = "foreign_account"
    message = _("Account %(account)s belongs to another organisation.")


class SettlementRefused(DomainError):
    code = "settlement_refused"
    message = _("These lines cannot be settled together: %(reason)s")
