"""The built-in sandbox provider (test cards, no real money)."""

from .adapter import TEST_CARDS, SandboxProvider

__all__ = ["TEST_CARDS", "SandboxProvider"]
