"""Test fixtures shared by every app (outside the layers, so any test may use any layer)."""
