"""The `encaisse` command: Django's manage.py, with Encaisse's own commands beside Django's."""

import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "encaisse.config.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(["encaisse", *sys.argv[1:]])


if __name__ == "__main__":
    main()
