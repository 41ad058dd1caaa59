"""Every user-interface string has a Spanish translation (issue 3: all UI text in en + es)."""

from __future__ import annotations

from pathlib import Path

from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parent.parent
METHOD_MAP = [("voice/**.py", "python"), ("templates/**.html", "jinja2")]
OPTIONS = {"templates/**.html": {"extensions": "jinja2.ext.do"}}
KEYWORDS = {
    "_": None,
    "gettext": None,
    "ngettext": (1, 2),
    "_l": None,
    "lazy_gettext": None,
}


def extracted_messages() -> dict[str, str]:
    """Map each msgid in the code and templates to where it appears first."""
    found: dict[str, str] = {}
    for filename, lineno, message, _comments, _context in extract_from_dir(
        str(ROOT), METHOD_MAP, OPTIONS, keywords=KEYWORDS
    ):
        for msgid in message if isinstance(message, tuple) else (message,):
            if msgid:
                found.setdefault(msgid, f"{filename}:{lineno}")
    return found


def spanish_catalog() -> dict[str, str]:
    translations: dict[str, str] = {}
    for po in (ROOT / "voice" / "translations").glob("*/es/LC_MESSAGES/messages.po"):
        with po.open("rb") as handle:
            for message in read_po(handle, locale="es"):
                if not message.id or message.fuzzy:
                    continue
                ids = message.id if isinstance(message.id, tuple) else (message.id,)
                strings = (
                    message.string
                    if isinstance(message.string, tuple)
                    else (message.string,)
                )
                if all(strings):
                    for msgid in ids:
                        translations[msgid] = strings[0]
    return translations


def test_every_interface_string_has_a_spanish_translation():
    catalog = spanish_catalog()
    missing = {
        msgid: where
        for msgid, where in extracted_messages().items()
        if msgid not in catalog
    }
    listing = "\n".join(
        f"  {where}: {msgid!r}"
        for msgid, where in sorted(missing.items(), key=lambda x: x[1])
    )
    assert not missing, f"{len(missing)} strings lack Spanish:\n{listing}"


def test_translations_keep_their_placeholders():
    import re

    placeholder = re.compile(r"%\((\w+)\)[sd]|\{(\w+)\}")
    for msgid, translation in spanish_catalog().items():
        assert set(placeholder.findall(msgid)) == set(
            placeholder.findall(translation)
        ), msgid
