"""Daily SEPA upkeep. Thin on purpose: the rules live in debits.py.

Exporting the files is not a task: a pain.008 file is frozen and booked the
moment it is written (the invoices show paid while the bank works), so it is
written when someone is there to send it to the bank — from the back office
or `encaisse sepa export`. What needs no one runs here.
"""

from crontask import cron
from django.tasks import task
from django.utils import timezone

from . import debits, export


@cron("30 6 * * *")
@task
def settle_direct_debits() -> int:
    """Every morning: files whose collection date has come are collected (512 / 5113) unless rejected meanwhile."""
    return export.settle_direct_debits(today=timezone.localdate())


@cron("20 0 * * *")
@task
def lapse_mandates() -> int:
    """Every night: mandates unused for 36 months lapse (SEPA rulebook), so no debit is sent under them."""
    return debits.lapse_mandates(today=timezone.localdate())
