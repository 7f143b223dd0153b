"""Scenario tests that cross sibling layers (invoices paid by payments): outside the layer contract."""
