from django.db import migrations

from encaisse.core.fields import refuse_changes_trigger


class Migration(migrations.Migration):
    """On PostgreSQL, refuse UPDATE and DELETE of entries, lines and settlements, whoever asks."""

    dependencies = [("ledger", "0001_initial")]

    operations = [
        refuse_changes_trigger("ledger_entry"),
        refuse_changes_trigger("ledger_entryline"),
        refuse_changes_trigger("ledger_settlement"),
    ]
