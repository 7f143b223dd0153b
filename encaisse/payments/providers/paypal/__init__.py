"""PayPal (Orders v2 REST) behind the PaymentProvider interface."""

from .adapter import CheckoutNotStarted, PayPalProvider, WebhookNotVerified

__all__ = ["CheckoutNotStarted", "PayPalProvider", "WebhookNotVerified"]
