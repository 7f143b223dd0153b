"""Shared test set-up: database choice, markers, and the factories of every app."""

from collections.abc import Iterator

import pytest
from django.conf import settings
from django.utils import translation

pytest_plugins = [
    "encaisse.testing.fixtures",
    "encaisse.testing.stripe",
    "encaisse.testing.browser",
]


def pytest_configure(config: pytest.Config) -> None:
    settings.TASKS = {"default": {"BACKEND": "django.tasks.backends.immediate.ImmediateBackend"}}
    settings.MAILERS = {"default": {"BACKEND": "django.core.mail.backends.locmem.EmailBackend"}}
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.STORAGES = {**settings.STORAGES, "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}


@pytest.fixture(autouse=True)
def _english_by_default() -> Iterator[None]:
    """Services and commands speak English in tests unless a test switches; pages follow the request."""
    with translation.override("en"):
        yield


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    on_postgresql = settings.DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql"
    skip = pytest.mark.skip(reason="needs PostgreSQL (real row locks and triggers); CI runs it with DATABASE_URL")
    for item in items:
        if "postgresql" in item.keywords and not on_postgresql:
            item.add_marker(skip)
