"""Stripe: Checkout, saved cards, off-session charges, refunds and signed webhooks."""

from .adapter import CheckoutUnavailable, StripeProvider

__all__ = ["CheckoutUnavailable", "StripeProvider"]
