from django.utils.translation import gettext_lazy as _

from encaisse.core.errors import DomainError


class PaymentRefused(DomainError):
    code = "payment_refused"
    message = _("The payment cannot be recorded: %(reason)s")


class NothingToAllocate(DomainError):
    code = "nothing_to_allocate"
    message = _("%(customer)s holds no advance to allocate.")


class RefundRefused(PaymentRefused):
    """A refund refused before anything was sent or booked; a PaymentRefused, so callers may catch either."""

    code = "refund_refused"
    message = _("The refund cannot be made: %(reason)s")
