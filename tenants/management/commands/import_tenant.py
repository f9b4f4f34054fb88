"""Restore an organization archive into a new tenant:
``import_tenant --file FILE --organization-id UUID --slug SLUG (--key-file KEY | --private-key-file PEM)``.

The whole archive is checked first (authentication of every chunk, checksum, format and schema version,
the id and slug free); a refused archive leaves nothing behind. See ``tenants.archive.restore``.
"""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from hub.errors import HubError
from tenants.archive.container import (
    ArchiveRefused,
    KeySource,
    key_read,
    rsa_key_source,
    symmetric_key_source,
)
from tenants.archive.restore import tenant_archive_restore


class Command(BaseCommand):
    help = "Restore an organization archive into a new organization (this instance or another)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--file", required=True, help="The archive written by export_tenant.")
        parser.add_argument("--organization-id", required=True, type=uuid.UUID)
        parser.add_argument("--slug", required=True)
        parser.add_argument("--name", help="The organization's name (the archived one by default).")
        keys = parser.add_mutually_exclusive_group(required=True)
        keys.add_argument("--key-file", help="The base64 key the archive was written with.")
        keys.add_argument("--private-key-file", help="The RSA private key (PEM) the archive was wrapped for.")
        parser.add_argument(
            "--skip-identity-check",
            action="store_true",
            help="Do not ask the identity service to confirm the organization (refused in production).",
        )
        parser.add_argument("--actor", type=uuid.UUID, help="The platform admin's user id, for the trail.")
        parser.add_argument(
            "--allow-older-schema",
            action="store_true",
            help="Restore an archive of an older schema when its tables fit (its missing migrations' data "
            "changes are not replayed).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        started = time.monotonic()
        try:
            summary = tenant_archive_restore(
                path=Path(options["file"]),
                key_source=self._key_source(options),
                organization_id=uuid.UUID(str(options["organization_id"])),
                slug=options["slug"],
                name=options["name"],
                check_identity=not options["skip_identity_check"],
                actor=options["actor"],
                allow_older=options["allow_older_schema"],
                progress=self.stdout.write,
            )
        except ArchiveRefused as exc:
            raise CommandError(f"Refused ({exc.code}): {exc.detail}") from None
        except HubError as exc:
            raise CommandError(f"{exc.instance_code}: {exc.detail}") from None
        except OSError as exc:
            raise CommandError(f"Cannot read the archive: {exc}") from None
        self.stdout.write(
            self.style.SUCCESS(
                f"Restored {summary.tenant.slug} ({summary.tenant.organization_id}): {summary.tables} tables,"
                f" {summary.rows} rows in {time.monotonic() - started:.1f} s"
            )
        )

    def _key_source(self, options: dict[str, Any]) -> KeySource:
        try:
            if options["private_key_file"]:
                return rsa_key_source(Path(options["private_key_file"]).read_bytes())
            return symmetric_key_source(key_read(options["key_file"]))
        except OSError as exc:
            raise CommandError(f"Cannot read the key: {exc}") from None
        except ArchiveRefused as exc:
            raise CommandError(f"Refused ({exc.code}): {exc.detail}") from None
