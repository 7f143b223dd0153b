from django.db import migrations

from encaisse.core.fields import refuse_changes_trigger

# An issued request may only have what became of it written (status, cancel and deduction entries).
ASKED = ("quote_id", "position", "label", "amount_minor", "currency", "percent", "due_on", "number", "issued_on",
         "issued_at", "entry_id", "receivable_line_id", "organisation_id")


class Migration(migrations.Migration):
    """On PostgreSQL, refuse deleting an issued deposit request or changing what it asked, and sent quotes' lines."""

    dependencies = [("invoicing", "0004_quotes_and_deposit_requests")]

    operations = [
        refuse_changes_trigger(
            "invoicing_depositrequest",
            when="OLD.status <> 'draft' AND (TG_OP = 'DELETE' OR "
                 + " OR ".join(f"NEW.{column} IS DISTINCT FROM OLD.{column}" for column in ASKED) + ")",
        ),
        refuse_changes_trigger(
            "invoicing_quoteline",
            when="EXISTS (SELECT 1 FROM invoicing_quote q WHERE q.id = OLD.quote_id AND q.status <> 'draft')",
        ),
    ]
