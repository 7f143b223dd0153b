"""encaisse invoice NUMBER_OR_ID: one invoice with its lines, totals, amount due, payments and credit notes."""

from argparse import ArgumentParser
from typing import Any

from django.utils import timezone
from django.utils.translation import gettext as _

from encaisse.cli.base import EncaisseCommand, to_json
from encaisse.cli.invoices import invoice_detail
from encaisse.core.errors import NotFound
from encaisse.invoicing.models import Invoice
from encaisse.invoicing.selectors import display_status_label


class Command(EncaisseCommand):
    help = _("Show one invoice, by number or id.")
    takes_org = True

    def add_command_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("invoice", metavar="NUMBER_OR_ID")

    def run(self, **options: Any) -> dict[str, Any]:
        key = options["invoice"]
        invoices = Invoice.objects.filter(organisation=self.organisation).select_related(
            "party", "invoice_type", "credited_invoice")
        invoice = invoices.filter(number=key).first()
        if invoice is None and key.isdigit():
            invoice = invoices.filter(pk=int(key)).first()
        if invoice is None:
            raise NotFound(what=_("Invoice"), key=key)
        return invoice_detail(invoice, today=timezone.localdate())

    def show(self, answer: dict[str, Any]) -> None:
        out = self.stdout.write
        title = answer["number"] or _("Draft #%(id)s") % answer
        out(f"{title} — {answer['customer_name']} ({answer['customer']}) — {answer['type']}")
        out(_("Status: %(status)s. Issued %(issued)s, due %(due)s.") % {
            "status": display_status_label(answer["status"]), "issued": answer["issued_on"] or "—",
            "due": answer["due_on"] or "—"})
        self.table([_("Label"), _("Qty"), _("Unit price"), _("VAT %"), _("Net")],
                   [[ln["label"], ln["quantity"], ln["unit_price"], ln["vat_rate"], ln["net"]]
                    for ln in answer["lines"]])
        totals = ((_("Net"), "net"), (_("VAT"), "vat"), (_("Total"), "total"), (_("Amount due"), "amount_due"))
        for label, key in totals:
            out(f"{label}: {to_json(answer[key])} {answer['currency']}")
        for payment in answer["payments"]:
            out(_("Payment %(date)s %(journal)s %(label)s: %(amount)s") % {
                **payment, "date": to_json(payment["date"]), "amount": to_json(payment["amount"])})
        for note in answer["credit_notes"]:
            out(_("Credit note %(number)s %(date)s: %(amount)s") % {
                **note, "date": to_json(note["date"]), "amount": to_json(note["amount"])})
