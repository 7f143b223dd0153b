"""The staff back office: Django's admin made for this work, plus a few views. No business rules here."""
