"""Template helpers of the back office: money in the reader's language."""

from __future__ import annotations

from django import template
from django.utils.translation import gettext_lazy as _

from encaisse.core.money import Money
from encaisse.core.templatetags.money import current_locale
from encaisse.core.templatetags.money import money as format_money

register = template.Library()

__all__ = ["current_locale", "format_money"]


@register.filter
def money(amount: Money | None) -> str:
    return format_money(amount)


# What the audit trail's verbs and origins mean to a reader; an unknown one is shown as recorded.
AUDIT_VERBS = {
    "created": _("created"),
    "changed": _("changed"),
    "edited": _("edited"),
    "line_added": _("line added"),
    "line_removed": _("line removed"),
    "validated": _("validated"),
    "draft": _("sent back to draft"),
    "cancelled": _("cancelled"),
    "posted": _("posted"),
    "credited": _("credited"),
    "closed": _("closed"),
    "imported": _("imported"),
    "usage_imported": _("lines imported"),
    "deleted": _("deleted"),
    "revoked": _("revoked"),
    # automatic collection and SEPA
    "collection_held": _("collection put on hold"),
    "collection_hold_lifted": _("collection hold lifted"),
    "collection_failed": _("collection failed: every try used"),
    "collection_method_changed": _("collection method changed"),
    "reminders_requested": _("reminders requested"),
    "credit_block_requested": _("credit block requested"),
    "charge_started": _("card charge started"),
    "direct_debit_scheduled": _("direct debit scheduled"),
    "direct_debits_scheduled": _("direct debits scheduled"),
    "direct_debit_cancelled": _("direct debit cancelled"),
    "debit_file_exported": _("direct-debit file exported"),
    "debit_file_settled": _("direct-debit file settled"),
    "bank_file_imported": _("bank file imported"),
    "mandate_signed": _("mandate signed"),
    "mandate_account_changed": _("mandate account changed"),
    "mandate_lapsed": _("mandate lapsed"),
    "mandate_revoked": _("mandate revoked"),
}
AUDIT_ORIGINS = {
    "backoffice": _("back office"),
    "portal": _("customer portal"),
    "api": _("API"),
    "webhook": _("provider webhook"),
    "cli": _("command line"),
    "import": _("file import"),
    "system": _("system"),
    "web": _("web"),
}


@register.filter
def audit_verb(verb: str) -> str:
    return str(AUDIT_VERBS.get(verb, verb))


@register.filter
def audit_origin(origin: str) -> str:
    return str(AUDIT_ORIGINS.get(origin, origin))
