"""Invoicing services: every write to invoices goes through one of these."""

from .crediting import CreditLine, issue_credit_note
from .drafting import add_line, cancel_invoice, create_draft, remove_line, reopen_draft, validate_invoice
from .posting import PostingReport, post_invoice, post_invoices, take_numbers
from .quotes import (
    DepositRefused,
    QuoteRefused,
    accept_quote,
    add_deposit_request,
    add_quote_line,
    cancel_quote,
    create_quote,
    edit_quote,
    invoice_from_quote,
    issue_deposit_request,
    remove_quote_line,
    send_quote,
)

__all__ = [
    "CreditLine",
    "DepositRefused",
    "PostingReport",
    "QuoteRefused",
    "accept_quote",
    "add_deposit_request",
    "add_line",
    "add_quote_line",
    "cancel_invoice",
    "cancel_quote",
    "create_draft",
    "create_quote",
    "edit_quote",
    "invoice_from_quote",
    "issue_credit_note",
    "issue_deposit_request",
    "post_invoice",
    "post_invoices",
    "remove_line",
    "remove_quote_line",
    "reopen_draft",
    "send_quote",
    "take_numbers",
    "validate_invoice",
]
