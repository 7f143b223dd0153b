"""Payments: provider accounts, attempts, saved methods (tokens only), offline payments, refunds, fees."""
