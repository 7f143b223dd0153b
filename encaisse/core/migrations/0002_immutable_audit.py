from django.db import migrations

from encaisse.core.fields import refuse_changes_trigger


class Migration(migrations.Migration):
    dependencies = [("core", "0001_initial")]

    operations = [refuse_changes_trigger("core_auditevent")]
