"""Money, errors, audit events, the request origin and immutability helpers.

No business concept lives here: every other app may import core, core imports none of them.
"""
