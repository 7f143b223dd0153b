"""SEPA direct debit: mandates now; batches, pain.008 and R-transactions with the collection issue."""
