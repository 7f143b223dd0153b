"""The HTTP API (django-ninja): thin endpoints over services and selectors."""
