from django.utils.translation import gettext_lazy as _

from encaisse.core.errors import DomainError


class InvoiceNotPostable(DomainError):
    code = "invoice_not_postable"
    message = _("Invoice %(invoice)s cannot be posted while it is %(status)s.")


class InvoiceNotEditable(DomainError):
    code = "invoice_not_editable"
    message = _("Invoice %(invoice)s is %(status)s: only drafts can be changed.")


class InvalidTransition(DomainError):
    code = "invalid_transition"
    message = _("Invoice %(invoice)s cannot go from %(from)s to %(to)s.")


class EmptyInvoice(DomainError):
    code = "empty_invoice"
    message = _("Invoice %(invoice)s has no lines.")


class CreditNoteRefused(DomainError):
    code = "credit_note_refused"
    message = _("No credit note can be issued for %(invoice)s: %(reason)s")


class ForeignRecord(DomainError):
    code = "foreign_record"
    message = _("%(what)s belongs to another organisation.")
