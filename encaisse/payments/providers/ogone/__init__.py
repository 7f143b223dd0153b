"""Ogone / Worldline e-Commerce adapter: hosted page with alias, signed feedback, DirectLink."""

from .adapter import OgoneProvider, alias_for, order_id_for, sign

__all__ = ["OgoneProvider", "alias_for", "order_id_for", "sign"]
