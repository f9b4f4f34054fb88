"""Rules for text that every module shares."""

from __future__ import annotations

import re

# C0 controls and DEL: never part of a name, code or label (a trailing newline forges log lines and
# slips past ``$``); PostgreSQL cannot store NUL at all.
CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f]")
