"""Template helpers of the back office: money in the reader's language."""

from __future__ import annotations

from django import template
from django.utils import translation
from django.utils.translation import gettext_lazy as _

from encaisse.core.money import Money

register = template.Library()

# babel needs a territory for currency formats; the UI languages map to these.
_LOCALES = {"fr": "fr_FR", "en": "en_GB"}


def current_locale() -> str:
    language = (translation.get_language() or "fr").split("-")[0]
    return _LOCALES.get(language, "fr_FR")


def format_money(amount: Money | None) -> str:
    """Format an amount for the current language (French: 1 234,56 € with U+202F); empty for None."""
    if amount is None:
        return ""
    return amount.format(current_locale())


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
