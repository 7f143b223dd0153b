from django.db import migrations

from encaisse.core.fields import refuse_changes_trigger


class Migration(migrations.Migration):
    """On PostgreSQL, refuse changes to posted invoices and to the lines of posted invoices."""

    dependencies = [("invoicing", "0001_initial")]

    operations = [
        refuse_changes_trigger("invoicing_invoice", when="OLD.status = 'posted'"),
        refuse_changes_trigger(
            "invoicing_invoiceline",
            when="EXISTS (SELECT 1 FROM invoicing_invoice i WHERE i.id = OLD.invoice_id AND i.status = 'posted')",
        ),
    ]
