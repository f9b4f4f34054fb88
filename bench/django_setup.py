"""What the in-process benches do first: Django set up on a database of their own, and their percentile.

A bench run as ``.venv/bin/python bench/NAME.py`` puts the project's root on ``sys.path`` itself, before
it imports this module.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def django_setup(database: str) -> None:
    """Set Django up as a development process on ``database``: an embedded one of that name, unless
    ``DATABASE_URL`` names a server's; logs at WARNING unless ``HUB_LOG_LEVEL`` says otherwise."""
    os.environ["HUB_ENV"] = "dev"
    if not os.environ.get("DATABASE_URL"):
        os.environ["HUB_EMBEDDED_DATABASE"] = database
    os.environ.setdefault("HUB_LOG_LEVEL", "WARNING")
    os.environ["DJANGO_SETTINGS_MODULE"] = "hub.settings"
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    import django

    django.setup()


def percentile(values: list[float], fraction: float) -> float:
    """The nearest-rank percentile of ``values`` (``fraction`` 0.95 for p95)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]
