"""The back office's ModelAdmins, registered on the back-office site (django.contrib.admin.site)."""

from importlib import import_module
from importlib.util import find_spec

from . import apikeys, collection, customers, invoicing, ledger, organisations, payments, quotes, sepa, usage

# The outbox page is written separately; it joins the back office as soon as its module exists.
if find_spec("encaisse.backoffice.outbox") is not None:
    import_module("encaisse.backoffice.outbox")

__all__ = ["apikeys", "collection", "customers", "invoicing", "ledger", "organisations", "payments", "quotes", "sepa",
           "usage"]
