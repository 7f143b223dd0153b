"""What every Encaisse command shares: --json, --org, exit codes and the "cli" audit origin.

Exit 0 on success, 1 on a domain error (with --json, `{"error": {"code",
"message"}}` on stdout), 2 on bad usage. The exit is a SystemExit raised by
execute(), so scripts get the code from the shell and tests from
`pytest.raises(SystemExit)` around call_command.
"""

from __future__ import annotations

import json
from argparse import ArgumentParser
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from django.core.management.base import BaseCommand, CommandError, OutputWrapper
from django.utils.translation import gettext as _

from encaisse.core.errors import DomainError
from encaisse.core.money import Money
from encaisse.core.origin import origin
from encaisse.parties.models import Organisation

EXIT_DOMAIN_ERROR = 1
EXIT_USAGE = 2


class UsageError(CommandError):
    """Bad arguments: exit code 2, like argparse's own errors."""

    def __init__(self, message: str) -> None:
        super().__init__(message, returncode=EXIT_USAGE)


def to_json(value: Any) -> Any:
    """JSON for our values: Money as a major-unit decimal string ("1059.75"), dates in ISO form."""
    if isinstance(value, Money):
        return value.as_json()
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def parse_month(value: str) -> date:
    """Read --period YYYY-MM as the first day of that month."""
    try:
        return datetime.strptime(value, "%Y-%m").date()
    except ValueError as error:
        raise UsageError(_("%(value)s is not a month: use YYYY-MM.") % {"value": value}) from error


def parse_day(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError as error:
        raise UsageError(_("%(value)s is not a date: use YYYY-MM-DD.") % {"value": value}) from error


class EncaisseCommand(BaseCommand):
    """Base of Encaisse's commands: subclasses implement run() and return the JSON object of their answer.

    Set `takes_org = True` for a command that works on one organisation; it
    then finds it in self.organisation. Without --json, subclasses print a
    readable summary in show(); with it, the returned object is printed alone.
    """

    takes_org = False
    requires_system_checks: list[str] = []
    # A command whose answer is a finding (ledger verify) sets 1 here after run() to fail after printing it.
    exit_code = 0

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--json", action="store_true", help=_("Print one JSON object on stdout."))
        if self.takes_org:
            parser.add_argument("--org", metavar="SLUG",
                                help=_("The organisation (may be left out when there is only one)."))
        self.add_command_arguments(parser)

    def add_command_arguments(self, parser: ArgumentParser) -> None:
        """Add the command's own arguments."""

    def execute(self, *args: Any, **options: Any) -> None:
        self.json = bool(options.get("json"))
        # Django sets these in super().execute(); an error raised before must reach the same streams.
        if options.get("stdout"):
            self.stdout = OutputWrapper(options["stdout"])
        if options.get("stderr"):
            self.stderr = OutputWrapper(options["stderr"])
        try:
            with origin("cli"):
                super().execute(*args, **options)
        except DomainError as error:
            self._fail(error.as_dict(), EXIT_DOMAIN_ERROR)
        except CommandError as error:
            code = error.returncode if error.returncode != 1 else EXIT_USAGE
            self._fail({"code": "usage", "message": str(error)}, code)

    def _fail(self, error: dict[str, Any], exit_code: int) -> None:
        if self.json:
            self.stdout.write(json.dumps({"error": error}, default=to_json, ensure_ascii=False))
        else:
            self.stderr.write(_("Error: %(message)s") % {"message": error["message"]})
            for row in error.get("rows", []):
                self.stderr.write(_("  line %(line)s: %(message)s") % row)
        raise SystemExit(exit_code)

    def handle(self, *args: Any, **options: Any) -> None:
        if self.takes_org:
            self.organisation = self.resolve_organisation(options.get("org"))
        answer = self.run(*args, **options)
        if self.json:
            self.stdout.write(json.dumps(answer, default=to_json, ensure_ascii=False))
        else:
            self.show(answer)
        if self.exit_code:
            raise SystemExit(self.exit_code)

    def run(self, *args: Any, **options: Any) -> dict[str, Any]:
        raise NotImplementedError

    def show(self, answer: dict[str, Any]) -> None:
        """Print the answer for a person; the default prints its top-level keys."""
        for key, value in answer.items():
            self.stdout.write(f"{key}: {to_json(value) if isinstance(value, (Money, date)) else value}")

    def resolve_organisation(self, slug: str | None) -> Organisation:
        """The organisation named by --org, or the only one there is; otherwise a usage error naming the choices."""
        slugs = list(Organisation.objects.order_by("slug").values_list("slug", flat=True))
        if slug is None and len(slugs) == 1:
            slug = slugs[0]
        if slug is None or slug not in slugs:
            if not slugs:
                raise UsageError(_("There is no organisation yet: create one with `encaisse create-org`."))
            reason = (_("Organisation %(slug)s does not exist.") % {"slug": slug} if slug
                      else _("There are several organisations: choose one with --org."))
            raise UsageError(_("%(reason)s Choices: %(choices)s.") % {"reason": reason, "choices": ", ".join(slugs)})
        return Organisation.objects.get(slug=slug)

    def table(self, headers: list[str], rows: list[list[Any]]) -> None:
        """Print rows under headers in aligned columns; numbers (Money) right-aligned."""
        cells = [[str(to_json(v) if isinstance(v, (Money, date)) else ("" if v is None else v)) for v in row]
                 for row in rows]
        widths = [max([len(h), *(len(r[i]) for r in cells)]) for i, h in enumerate(headers)]
        right = [any(isinstance(row[i], Money) for row in rows) for i in range(len(headers))]

        def line(values: list[str]) -> str:
            return "  ".join(v.rjust(w) if r else v.ljust(w) for v, w, r in zip(values, widths, right, strict=True))

        self.stdout.write(line(headers).rstrip())
        for row in cells:
            self.stdout.write(line(row).rstrip())
