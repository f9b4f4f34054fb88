"""Whether a production secret is one an attacker could guess: a published sample, a placeholder, or a
value with far less entropy than its length suggests.

Importable by the settings (nothing here touches Django). The estimate is deliberately pessimistic: it
takes the least of several simple measures, each of which a random key passes with a wide margin and a
made-up one fails (one character repeated, a short pattern repeated, a run such as ``abcdef…``, a few
words joined by hyphens).
"""

from __future__ import annotations

import itertools
import math
import re
from collections import Counter
from collections.abc import Sequence

# A secret must be worth at least this many bits by every measure below: "well below 128" is refused,
# with a margin for how the measures undercount short random keys (a random 32-character hex key,
# exactly 128 bits, measures 94 to 125).
MIN_ESTIMATED_BITS = 80

# Published or committed anywhere: the identity service's sample, this repository's development
# values, docker-compose.yml (past and present), its tests and its examples. Compared case-insensitively.
KNOWN_SECRETS = frozenset(
    value.lower()
    for value in (
        "your-super-secret-jwt-key-change-in-production",
        "dev-insecure-hub-secret-key-never-use-in-production",
        "dev-insecure-identity-jwt-secret-change-me",
        "ZGV2LW9ubHktaHViLWZpZWxkLWtleS0zMi1ieXRlcyE=",
        "change-me-to-a-random-value-of-at-least-fifty-characters-0123456789",
        "change-me-shared-with-the-identity-service",
        "another-secret-that-is-long-enough-for-hs256",
        "postgres-change-me",
        "owner-change-me",
        "app-change-me",
    )
)
# Words that mark a value as a placeholder, searched in the value lower-cased with everything but
# letters and digits removed. Six letters or more: a random key contains one by chance about never.
_PLACEHOLDER_WORDS = (
    "changeme", "changeit", "changethis", "replaceme", "yoursecret", "yoursuper", "mysecret",
    "secretkey", "notsecret", "insecure", "placeholder", "example", "password", "passw0rd", "sample",
    "devonly", "testonly", "default",
)  # fmt: skip
_WORD_SEPARATORS = re.compile(r"[-_ .:/+]+")
# A word drawn at random from a list of 2,048 is worth 11 bits; one a person chose, less.
_BITS_PER_WORD = 11.0


def secret_weakness(value: str) -> str | None:
    """Why ``value`` must not be a production secret, or ``None``. Never quotes the value."""
    lowered = value.strip().lower()
    if lowered in KNOWN_SECRETS or lowered.startswith("django-insecure"):
        return "it is a published sample or development value"
    squeezed = re.sub(r"[^a-z0-9]", "", lowered)
    if any(word in squeezed for word in _PLACEHOLDER_WORDS):
        return "it looks like a placeholder"
    bits = min(symbols_bits([ord(character) for character in value]), _words_bits(value))
    if bits < MIN_ESTIMATED_BITS:
        return f"its estimated entropy is about {int(bits)} bits, well below 128"
    return None


def key_bytes_weakness(key: bytes) -> str | None:
    """Why a binary key (a master key's 32 bytes) must not be used in production, or ``None``."""
    if all(0x20 <= byte < 0x7F for byte in key):
        # Random bytes are all printable once in about 10**14 keys; typed text is not a key.
        return "it is printable text, not random bytes"
    bits = symbols_bits(key)
    if bits < MIN_ESTIMATED_BITS:
        return f"its bytes' estimated entropy is about {int(bits)} bits, well below 128"
    return None


def symbols_bits(symbols: Sequence[int]) -> float:
    """A pessimistic entropy estimate of a sequence of symbols (characters or bytes), in bits.

    The sequence is first cut to its shortest repeating unit; then the smaller of the Shannon entropy
    of its symbols and of the steps between neighbours (which sees ``abcdef…`` and ``a1b2c3…``),
    times its length.
    """
    unit = list(symbols[: _period(symbols)])
    steps = [after - before for before, after in itertools.pairwise(unit)]
    return min(_shannon(unit) * len(unit), _shannon(steps) * len(steps))


def _words_bits(value: str) -> float:
    """When the value is lower-case words joined by separators, what the words are worth."""
    words = [word for word in _WORD_SEPARATORS.split(value.strip()) if word]
    if len(words) < 2 or not all(word.isascii() and (word.isalpha() and word.islower()) for word in words):
        return math.inf
    return len(words) * _BITS_PER_WORD


def _period(symbols: Sequence[int]) -> int:
    """The length of the shortest unit whose repetition gives ``symbols`` (its own length if none)."""
    for length in range(1, len(symbols) // 2 + 1):
        if all(symbols[index] == symbols[index % length] for index in range(length, len(symbols))):
            return length
    return len(symbols)


def _shannon(symbols: Sequence[int]) -> float:
    if not symbols:
        return 0.0
    counts = Counter(symbols).values()
    total = len(symbols)
    return -sum(count / total * math.log2(count / total) for count in counts)
