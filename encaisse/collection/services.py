"""Running automatic collection. (Interface fixed by the integrator; bodies written by the collection work.)"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

from encaisse.invoicing.models import Invoice
from encaisse.parties.models import Organisation
from encaisse.sepa.models import RTransaction

from .models import CollectionPolicy, CollectionRun


def policy_for(invoice: Invoice) -> CollectionPolicy:
    """The invoice type's policy, else the organisation's default, else the built-in default (not saved)."""
    raise NotImplementedError


def run_collection(*, organisation: Organisation, on: date, dry_run: bool = False,
                   trigger: str = CollectionRun.Trigger.SCHEDULE, by: Any = None,
                   shard: tuple[int, int] | None = None) -> CollectionRun:
    """Collect every due invoice of `organisation` on `on`; the run lists each invoice considered and its result.

    `shard=(k, n)` takes only customers with id % n == k, so several workers can share a run's work."""
    raise NotImplementedError


def handle_r_transactions(rtransactions: Sequence[RTransaction], *, by: Any = None) -> None:
    """What the policy says after a reject or return: re-present (AM04), re-bill the fee, or fail the collection."""
    raise NotImplementedError
