from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("tenants", "0007_jobs_audit_verification"),
    ]

    operations = [
        migrations.AlterField(
            model_name="platformauditentry",
            name="action",
            field=models.CharField(
                choices=[
                    ("provision", "Provision"),
                    ("rename", "Rename"),
                    ("suspend", "Suspend"),
                    ("activate", "Activate"),
                    ("delete", "Delete"),
                    ("rotate_keys", "Rotate Keys"),
                    ("retry_job", "Retry Job"),
                    ("archive", "Archive"),
                    ("archive_download", "Archive Download"),
                ],
                max_length=16,
            ),
        ),
    ]
