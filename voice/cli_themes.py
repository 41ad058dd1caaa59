"""``voice themes``: the theme engine on any CSV of comments, for analysts."""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

import click


@click.command("themes")
@click.argument(
    "csv_file", type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
@click.option(
    "--column", default="text", show_default=True, help="Column holding the text."
)
@click.option("--max-themes", default=12, show_default=True, type=click.IntRange(2, 50))
@click.option("--seed", default=0, show_default=True, type=int)
@click.option("--json", "as_json", is_flag=True, help="Print the themes as JSON.")
def themes_command(
    csv_file: Path, column: str, max_themes: int, seed: int, as_json: bool
) -> None:
    """Group the comments in CSV_FILE into themes and print each theme's rows.

    Row numbers count data rows from 1 (the header is row 0), as spreadsheets do
    after the header. Empty cells are skipped.
    """
    from voice.themes import find_themes, themes_to_json

    csv.field_size_limit(min(sys.maxsize, 2**31 - 1))
    with csv_file.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        if column not in (reader.fieldnames or ()):
            found = ", ".join(reader.fieldnames or ()) or "none"
            raise click.BadParameter(
                f"no column {column!r} in {csv_file.name} (columns: {found})",
                param_hint="--column",
            )
        rows = [
            (number, row[column].strip())
            for number, row in enumerate(reader, start=1)
            if (row.get(column) or "").strip()
        ]
    if not rows:
        raise click.ClickException(f"{csv_file.name} has no text in column {column!r}.")
    texts = [text for _number, text in rows]
    themeset = find_themes(texts, max_themes=max_themes, seed=seed)
    row_of = [number for number, _text in rows]
    if as_json:
        document = json.loads(themes_to_json(themeset, comments=texts))
        for theme in document["themes"]:
            theme["rows"] = [row_of[i] for i in theme["indices"]]
        click.echo(json.dumps(document, ensure_ascii=False, indent=2))
        return
    quality = " (lower-quality fallback: the sentence model is not installed)"
    click.echo(
        f"{len(texts)} comments, {len(themeset.themes)} themes, engine "
        f"{themeset.engine}{quality if themeset.is_fallback else ''}"
    )
    for theme in themeset.themes:
        rows_text = ", ".join(str(row_of[i]) for i in theme.indices)
        click.echo(f"\n{theme.label}  ({theme.size} comments, {theme.share:.0%})")
        click.echo(f"  rows: {rows_text}")
