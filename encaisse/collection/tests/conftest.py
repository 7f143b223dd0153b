"""Fixtures shared by the collection tests: the SEPA creditor account is sepa's own fixture."""

from encaisse.sepa.tests.conftest import creditor  # noqa: F401  (a fixture, found by pytest here)
