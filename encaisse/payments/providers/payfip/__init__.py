"""PayFiP (DGFiP) adapter: hosted payment of public revenue, results read back from the web service."""

from .adapter import CheckoutFailed, PayFiPProvider, reference_for

__all__ = ["CheckoutFailed", "PayFiPProvider", "reference_for"]
