"""Another Hub process on the test database: field encryption as a second worker would do it.

Run as ``python -m tests.crypto_peer`` with the test database's URLs in the environment; reads one JSON
command a line on stdin (``{"op": "encrypt"|"decrypt"|"keys", "organization_id", ...}``) and answers
one JSON line each, so a test steps it in lock-step with its own process (no sleeps).
"""

from __future__ import annotations

import json
import os
import sys
import uuid
from typing import Any


def _answer(command: dict[str, Any]) -> dict[str, Any]:
    from tenants import crypto

    organization_id = uuid.UUID(command["organization_id"])
    try:
        if command["op"] == "keys":
            return {"ok": True, "result": crypto.data_keys(organization_id).current}
        if command["op"] == "encrypt":
            text = crypto.encrypt(
                command["text"], organization_id=organization_id, context=command["context"]
            )
            return {"ok": True, "result": text}
        text = crypto.decrypt(command["text"], organization_id=organization_id, context=command["context"])
        return {"ok": True, "result": text}
    except crypto.FieldKeyError as exc:
        return {"ok": False, "error": str(exc)}


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hub.settings")
    import django

    django.setup()
    print(json.dumps({"ok": True, "result": "ready"}), flush=True)
    for line in sys.stdin:
        print(json.dumps(_answer(json.loads(line))), flush=True)


if __name__ == "__main__":
    main()
