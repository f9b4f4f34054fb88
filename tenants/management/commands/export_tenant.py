"""Write one organization's archive: ``export_tenant --tenant SLUG --out FILE --key-file KEY``.

The archive is encrypted under the 32-byte key in ``--key-file`` (base64; ``--generate-key FILE`` writes
a new one, as ``openssl rand -base64 32`` does) or for an RSA public key (``--public-key-file``, PEM, at
least 3072 bits: ``import_tenant`` then takes the private key). The key is never written into the
archive. See ``tenants.archive`` for what the archive holds.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from tenants.archive.container import ArchiveRefused, key_generate, key_read
from tenants.archive.export import tenant_archive_write
from tenants.models import Organization


class Command(BaseCommand):
    help = "Write one organization's portable, checksummed, encrypted archive to a file."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--tenant", required=True, help="The organization's slug.")
        parser.add_argument("--out", required=True, help="The archive file to write (must not exist).")
        keys = parser.add_mutually_exclusive_group(required=True)
        keys.add_argument("--key-file", help="A file holding base64 of 32 random bytes.")
        keys.add_argument(
            "--generate-key", metavar="FILE", help="Write a new key to FILE (mode 600) and use it."
        )
        keys.add_argument("--public-key-file", help="An RSA public key (PEM, >= 3072 bits) to wrap for.")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            tenant = Organization.objects.get(slug=options["tenant"])
        except Organization.DoesNotExist:
            raise CommandError(f"No organization has the slug {options['tenant']!r}.") from None
        key, public_key = self._key(options)
        out = Path(options["out"])
        started = time.monotonic()
        try:
            with out.open("xb") as stream:
                summary = tenant_archive_write(
                    tenant=tenant, stream=stream, key=key, public_key=public_key, progress=self.stdout.write
                )
        except FileExistsError:
            raise CommandError(f"{out} exists already.") from None
        except ArchiveRefused as exc:
            out.unlink(missing_ok=True)
            raise CommandError(f"{exc.code}: {exc.detail}") from None
        except BaseException:
            out.unlink(missing_ok=True)
            raise
        self.stdout.write(
            self.style.SUCCESS(
                f"Archived {tenant.slug}: {summary.tables} tables, {summary.rows} rows, {summary.bytes} B "
                f"in {time.monotonic() - started:.1f} s; sha256 {summary.sha256}"
            )
        )

    def _key(self, options: dict[str, Any]) -> tuple[bytes | None, str | None]:
        try:
            if options["public_key_file"]:
                return None, Path(options["public_key_file"]).read_text()
            if options["generate_key"]:
                path = Path(options["generate_key"])
                descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with os.fdopen(descriptor, "w") as handle:
                    handle.write(key_generate() + "\n")
                self.stdout.write(f"Wrote a new archive key to {path}: keep it apart from the archive.")
                return key_read(path), None
            return key_read(options["key_file"]), None
        except (OSError, ArchiveRefused) as exc:
            raise CommandError(f"Cannot use the key: {exc}") from None
