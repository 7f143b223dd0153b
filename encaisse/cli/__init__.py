"""Encaisse's CLI commands (management commands of the `encaisse` program)."""
