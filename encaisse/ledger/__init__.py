"""Double-entry ledger: accounts, journals, balanced hash-chained entries, settlement, periods.

The ledger knows nothing of invoices or payments. An entry records a business
event under an idempotency key that names it ("invoice:42:post"); the records
that caused it point at the entry, never the reverse.
"""
