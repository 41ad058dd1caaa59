"""Single-use ballot codes: how they look, how they are typed back, how they are stored.

Pure module: no Flask, no database. A code is 12 symbols of Crockford's base-32
alphabet (60 random bits, issue 3), printed in three groups of four
(``7KQ2-M9XH-4RTB``). Letters that look alike are read as the same symbol when a
student types them back, so ``o``/``O`` mean ``0`` and ``i``/``I``/``l``/``L`` mean
``1``. Only a keyed hash of the normalised code is ever stored (DESIGN invariant 1):
without the app's secret key a stolen table cannot be turned back into codes, and
rotating the secret key invalidates every code already printed.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import unicodedata

#: Crockford's base-32 symbols: digits and capitals without I, L, O and U.
ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
#: Symbols in a code; 12 x 5 bits = 60 random bits.
CODE_LENGTH = 12
#: Symbols per printed group.
GROUP_SIZE = 4
#: Random bits behind every code.
ENTROPY_BITS = CODE_LENGTH * 5

_LOOK_ALIKES = str.maketrans({"O": "0", "I": "1", "L": "1"})
# Anything a student may type between groups: spaces, hyphens and dashes, dots.
_SEPARATORS = re.compile(r"[\s\-\u2010-\u2015\u2212_.·]+")
_WELL_FORMED = re.compile(f"[{ALPHABET}]{{{CODE_LENGTH}}}")


def generate_code() -> str:
    """Return a new random code in its printed form, e.g. ``7KQ2-M9XH-4RTB``."""
    symbols = "".join(secrets.choice(ALPHABET) for _ in range(CODE_LENGTH))
    return format_code(symbols)


def normalize_code(text: str) -> str:
    """Return what the student typed as the bare 12-symbol form used for hashing.

    Folds width and case, drops separators and reads look-alike letters as digits.
    The result is not checked: see :func:`is_well_formed`.
    """
    folded = unicodedata.normalize("NFKC", text).upper()
    return _SEPARATORS.sub("", folded).translate(_LOOK_ALIKES)


def is_well_formed(text: str) -> bool:
    """Say whether ``text`` could be a code at all (length and alphabet)."""
    return _WELL_FORMED.fullmatch(normalize_code(text)) is not None


def format_code(text: str) -> str:
    """Return a code in its printed form, in groups of four joined by hyphens."""
    bare = normalize_code(text)
    return "-".join(
        bare[start : start + GROUP_SIZE] for start in range(0, len(bare), GROUP_SIZE)
    )


def hash_code(secret_key: str | bytes, survey_id: int, code: str) -> str:
    """Return the keyed hash stored for ``code`` (64 hex characters).

    The survey id is part of the message, so the same code printed for two surveys
    hashes differently and a hash says nothing across surveys.

    :param secret_key: the app's ``SECRET_KEY``
    :param code: the code as printed or as typed; it is normalised first
    """
    key = secret_key.encode() if isinstance(secret_key, str) else secret_key
    message = f"voice-ballot-code\x00{survey_id}\x00{normalize_code(code)}".encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()
