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
