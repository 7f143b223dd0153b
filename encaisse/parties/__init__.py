"""Organisations (the tenants), their staff, and their customers."""
