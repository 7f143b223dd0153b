"""Setting organisations up: creation with their defaults, the demo, customer imports.

It sits above the domain apps because a new organisation needs a bit of each
(accounts, journals, series, a régie and an invoice type).
"""
