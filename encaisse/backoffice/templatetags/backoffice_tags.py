"""Template helpers of the back office: money in the reader's language."""

from __future__ import annotations

from django import template
from django.utils import translation

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
