"""Invoicing services: every write to invoices goes through one of these."""

from .crediting import CreditLine, issue_credit_note
from .drafting import add_line, cancel_invoice, create_draft, remove_line, reopen_draft, validate_invoice
from .posting import PostingReport, post_invoice, post_invoices, take_numbers

__all__ = [
    "CreditLine",
    "PostingReport",
    "add_line",
    "cancel_invoice",
    "create_draft",
    "issue_credit_note",
    "post_invoice",
    "post_invoices",
    "remove_line",
    "reopen_draft",
    "take_numbers",
    "validate_invoice",
]
