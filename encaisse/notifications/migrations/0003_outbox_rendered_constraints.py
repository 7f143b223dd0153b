from django.db import migrations, models


class Migration(migrations.Migration):
    # Apart from 0002: PostgreSQL refuses to alter a table in the transaction that has just updated its rows.

    dependencies = [
        ('notifications', '0002_outbox_rendered_when_sent'),
    ]

    operations = [
        migrations.AddConstraint(
            model_name='outboxmessage',
            constraint=models.CheckConstraint(condition=models.Q(('rendered_at__isnull', False), ('context__isnull', False), _connector='OR'), name='outbox_rendered_or_context'),
        ),
        migrations.AddConstraint(
            model_name='outboxmessage',
            constraint=models.CheckConstraint(condition=models.Q(models.Q(('status', 'sent'), _negated=True), ('rendered_at__isnull', False), _connector='OR'), name='outbox_sent_was_rendered'),
        ),
    ]
