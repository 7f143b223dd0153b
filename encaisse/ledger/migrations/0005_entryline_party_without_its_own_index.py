import django.db.models.deletion
from django.db import migrations, models

# The index Django made for the foreign key (the same name on PostgreSQL and SQLite).
INDEX = "ledger_entryline_party_id_30ed818c"


class Migration(migrations.Migration):
    """Lines lose the index on party alone: the (party, account) index serves every lookup by party.

    The index is dropped by name: AlterField would rebuild the whole table on
    SQLite to drop one index.
    """

    dependencies = [
        ("ledger", "0004_direct_debits_unsettle"),
        ("parties", "0003_customer_email_and_collection"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="entryline",
                    name="party",
                    field=models.ForeignKey(blank=True, db_index=False, null=True,
                                            on_delete=django.db.models.deletion.PROTECT,
                                            related_name="ledger_lines", to="parties.customer"),
                ),
            ],
            database_operations=[
                migrations.RunSQL(f'DROP INDEX IF EXISTS "{INDEX}"',
                                  reverse_sql=f'CREATE INDEX "{INDEX}" ON "ledger_entryline" ("party_id")'),
            ],
        ),
    ]
