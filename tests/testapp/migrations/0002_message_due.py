from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("testapp", "0001_initial")]

    operations = [
        migrations.AddField(
            model_name="message",
            name="due",
            field=models.DateTimeField(blank=True, null=True),
        ),
    ]
