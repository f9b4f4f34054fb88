"""Another Hub process on the test database, serving requests through the whole middleware (its own
host -> organization route cache included), one at a time.

Run as ``python -m tests.route_peer`` with the test database's URLs in the environment; reads one JSON
command a line on stdin (``{"host", "path", "token"}``) and answers one JSON line each
(``{"status", "code"}``), so a test steps it in lock-step with its own process.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hub.settings")
    import django

    django.setup()
    from django.test import Client

    print(json.dumps({"ok": True, "result": "ready"}), flush=True)
    for line in sys.stdin:
        command: dict[str, Any] = json.loads(line)
        client = Client(headers={"Host": command["host"], "Authorization": f"Bearer {command['token']}"})
        response = client.get(command["path"])
        code = (
            response.json().get("code")
            if response.headers.get("Content-Type") == "application/json"
            else None
        )
        print(json.dumps({"status": response.status_code, "code": code}), flush=True)


if __name__ == "__main__":
    main()
