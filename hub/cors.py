"""``HUB_CORS_ORIGINS``: the browser origins allowed to call the API, read into django-cors-headers' settings.

An entry is an origin, ``scheme://host[:port]`` (``https://app.example.com``, ``http://localhost:3000``),
or a pattern whose first host label is ``*`` (``https://*.example.com``): any one label there, so
``https://acme.example.com`` is allowed and ``https://example.com``, ``https://a.b.example.com`` and
``https://example.com.evil.org`` are not. Patterns become anchored, escaped regular expressions
(``CORS_ALLOWED_ORIGIN_REGEXES``); django-cors-headers matches those from the start only, so the end
anchor is what keeps a suffix such as ``.evil.org`` out.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# A scheme, an optional ``*.`` for one label, a host of DNS labels, an optional port; nothing else (no
# path, no user, no query): an origin as a browser sends it in ``Origin``.
_ENTRY = re.compile(
    r"(?P<scheme>https?)://(?P<wildcard>\*\.)?"
    r"(?P<host>[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)*)"
    r"(?P<port>:[0-9]{1,5})?"
)
# What ``*`` stands for: one DNS label.
_LABEL = r"[a-z0-9](?:[a-z0-9-]*[a-z0-9])?"


@dataclass(frozen=True)
class CorsOrigins:
    """Exact origins (``CORS_ALLOWED_ORIGINS``) and patterns (``CORS_ALLOWED_ORIGIN_REGEXES``)."""

    exact: list[str]
    patterns: list[str]


def cors_origins_parse(entries: list[str]) -> CorsOrigins:
    """Split and check ``HUB_CORS_ORIGINS``' entries; ``ValueError`` names the first one refused."""
    exact: list[str] = []
    patterns: list[str] = []
    for raw in entries:
        entry = raw.strip().lower()
        if not entry:
            continue
        match = _ENTRY.fullmatch(entry)
        if match is None:
            raise ValueError(
                f"{raw.strip()!r} is not an origin (scheme://host[:port], or scheme://*.domain for "
                "any one subdomain label)"
            )
        if not match["wildcard"]:
            exact.append(entry)
            continue
        prefix = re.escape(f"{match['scheme']}://")
        suffix = re.escape(f".{match['host']}{match['port'] or ''}")
        patterns.append(rf"^{prefix}{_LABEL}{suffix}\Z")
    return CorsOrigins(exact=exact, patterns=patterns)
