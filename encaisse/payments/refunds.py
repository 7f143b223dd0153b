"""Refunds: through the provider (an attempt of kind REFUND) or out of a customer's advance (offline)."""

from __future__ import annotations

from typing import Any

from .providers.base import ProviderResult


def book_refund(attempt: Any, result: ProviderResult, *, by: Any = None) -> Any:
    """Book a refund the provider confirmed; return its entry. Called by apply_provider_result, locked."""
    raise NotImplementedError  # written by the refunds work


__all__ = ["book_refund"]
