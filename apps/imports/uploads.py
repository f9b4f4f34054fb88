"""The upload's size limit, enforced while Django parses the multipart body.

The request-wide limit (``DATA_UPLOAD_MAX_MEMORY_SIZE``) does not cover files, and Django would stream
any file to a temporary one. This handler, installed for the upload endpoint only, refuses a body whose
``Content-Length`` is past ``HUB_IMPORT_MAX_BYTES`` (plus the multipart envelope) before one byte is
read, and one that grows past it while streaming (no length, or a lying one)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.files.uploadhandler import FileUploadHandler
from django.http import HttpRequest

from apps.imports.errors import ImportTooLarge

# Room for the multipart boundaries and part headers around the file.
ENVELOPE_BYTES = 64 * 1024


class ImportSizeLimit(FileUploadHandler):
    def handle_raw_input(
        self, input_data: Any, META: Any, content_length: int, boundary: Any, encoding: Any = None
    ) -> None:
        if content_length > settings.HUB_IMPORT_MAX_BYTES + ENVELOPE_BYTES:
            raise ImportTooLarge(f"The file is larger than {settings.HUB_IMPORT_MAX_BYTES} bytes.")
        self.received = 0

    def receive_data_chunk(self, raw_data: bytes, start: int) -> bytes:
        self.received = start + len(raw_data)
        if self.received > settings.HUB_IMPORT_MAX_BYTES:
            raise ImportTooLarge(f"The file is larger than {settings.HUB_IMPORT_MAX_BYTES} bytes.")
        return raw_data

    def file_complete(self, file_size: int) -> None:
        return None


def upload_limit(request: HttpRequest) -> None:
    """Install the limit before anything reads the body (``request.FILES``)."""
    length = request.META.get("CONTENT_LENGTH") or "0"
    if length.isdecimal() and int(length) > settings.HUB_IMPORT_MAX_BYTES + ENVELOPE_BYTES:
        raise ImportTooLarge(f"The file is larger than {settings.HUB_IMPORT_MAX_BYTES} bytes.")
    request.upload_handlers = [ImportSizeLimit(request), *request.upload_handlers]
