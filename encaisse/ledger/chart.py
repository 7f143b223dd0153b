"""The French PCG accounts and journals every new organisation starts with."""

from django.utils.translation import gettext_lazy as _

from .models import Account, Journal

# (code, name, kind); names are stored in the organisation's language at creation.
DEFAULT_ACCOUNTS = [
    ("411", _("Customers"), Account.Kind.RECEIVABLE),
    ("419", _("Customer advances"), Account.Kind.ADVANCE),
    ("4191", _("Customer deposits on orders"), Account.Kind.DEPOSITS),
    ("512", _("Bank"), Account.Kind.BANK),
    ("5112", _("Cheques to deposit"), Account.Kind.CHEQUES),
    ("5113", _("Direct debits being collected"), Account.Kind.DIRECT_DEBITS),
    ("53", _("Cash"), Account.Kind.CASH),
    ("467", _("Payment provider clearing"), Account.Kind.CLEARING),
    ("706", _("Services sold"), Account.Kind.REVENUE),
    ("44571", _("VAT collected"), Account.Kind.TAX),
    ("627", _("Bank and provider fees"), Account.Kind.EXPENSE),
    ("471", _("Opening balances carried over (suspense)"), Account.Kind.SUSPENSE),
]

DEFAULT_JOURNALS = [
    ("VE", _("Sales"), Journal.Kind.SALES),
    ("BQ", _("Bank"), Journal.Kind.BANK),
    ("CA", _("Cash"), Journal.Kind.CASH),
    ("CH", _("Cheques"), Journal.Kind.CHEQUES),
    ("PSP", _("Payment providers"), Journal.Kind.CLEARING),
    ("OD", _("Miscellaneous"), Journal.Kind.MISC),
]
