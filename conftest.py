"""Shared test set-up: database choice, markers, and the factories of every app."""

import pytest
from django.conf import settings

pytest_plugins = [
    "encaisse.testing.fixtures",
]


def pytest_configure(config: pytest.Config) -> None:
    settings.TASKS = {"default": {"BACKEND": "django.tasks.backends.immediate.ImmediateBackend"}}
    settings.MAILERS = {"default": {"BACKEND": "django.core.mail.backends.locmem.EmailBackend"}}
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.STORAGES = {**settings.STORAGES, "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    on_postgresql = settings.DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql"
    skip = pytest.mark.skip(reason="needs PostgreSQL (real row locks and triggers); CI runs it with DATABASE_URL")
    for item in items:
        if "postgresql" in item.keywords and not on_postgresql:
            item.add_marker(skip)
