"""{{ amount|money }}: an amount as people of the current language write it (French: 1 234,56 € with U+202F)."""

from django import template
from django.utils import translation

from encaisse.core.money import Money

register = template.Library()

_LOCALES = {"fr": "fr_FR", "en": "en_GB"}


def current_locale() -> str:
    return _LOCALES.get((translation.get_language() or "fr").split("-")[0], "fr_FR")


@register.filter
def money(amount: Money | None) -> str:
    return "" if amount is None else amount.format(current_locale())
