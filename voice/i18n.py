"""Languages: which one a request speaks, and the Babel catalogs behind it.

Students carry their language in the URL (``?lang=es``), never in a tracking cookie.
Staff get their account's language unless the URL says otherwise. Catalogs live in
``voice/translations/<area>/<lang>/LC_MESSAGES/messages.po``, one area per part of the
app; Flask-Babel merges them. Compiled ``.mo`` files are build products: they are made
from the ``.po`` files when missing or stale, so a fresh checkout needs no extra step.
"""

from __future__ import annotations

from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from flask import Flask, current_app, has_request_context, request
from flask_babel import Babel
from flask_login import current_user

TRANSLATIONS = Path(__file__).resolve().parent / "translations"


def init_app(app: Flask, babel: Babel) -> None:
    """Compile stale catalogs and install the locale selector."""
    areas = compile_catalogs(TRANSLATIONS)
    app.config["BABEL_TRANSLATION_DIRECTORIES"] = ";".join(
        str(a) for a in areas
    ) or str(TRANSLATIONS)
    babel.init_app(app, locale_selector=select_language)

    @app.context_processor
    def _language_context() -> dict[str, object]:
        return {"lang": select_language(), "languages": app.config["LANGUAGES"]}


def select_language() -> str:
    """Return the language of the current request: URL, then account, then browser."""
    languages = current_app.config["LANGUAGES"]
    if not has_request_context():
        return languages[0]
    asked = request.args.get("lang") or (request.view_args or {}).get("lang")
    if asked in languages:
        return asked
    if request.method == "POST" and request.form.get("lang") in languages:
        return request.form["lang"]
    if current_user and current_user.is_authenticated:
        return current_user.language.value
    return request.accept_languages.best_match(languages) or languages[0]


def compile_catalogs(root: Path) -> list[Path]:
    """Compile every ``.po`` under ``root`` whose ``.mo`` is missing or older.

    :return: the translation directories (one per area)
    """
    areas = sorted({po.parents[2] for po in root.glob("*/*/LC_MESSAGES/*.po")})
    for po_path in root.glob("*/*/LC_MESSAGES/*.po"):
        mo_path = po_path.with_suffix(".mo")
        if mo_path.exists() and mo_path.stat().st_mtime >= po_path.stat().st_mtime:
            continue
        with po_path.open("rb") as po_file:
            catalog = read_po(po_file, locale=po_path.parents[1].name)
        tmp = mo_path.with_suffix(".mo.tmp")
        with tmp.open("wb") as mo_file:
            write_mo(mo_file, catalog)
        tmp.replace(mo_path)
    return areas
