"""``voice themes`` themes any CSV of comments and names the rows of each theme."""

from __future__ import annotations

import json

COMMENTS = [
    "The lunch line is far too long",
    "We need more time to eat lunch",
    "Lunch is rushed every day",
    "My counselor helped me a lot",
    "Counselors should have more time for students",
]


def _write_csv(tmp_path, rows, header="comment"):
    path = tmp_path / "comments.csv"
    lines = [header] + [f'"{row}"' for row in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_themes_json_lists_every_nonempty_row_once(runner, tmp_path):
    path = _write_csv(tmp_path, [*COMMENTS[:2], "", *COMMENTS[2:]])
    result = runner.invoke(args=["themes", str(path), "--column", "comment", "--json"])
    assert result.exit_code == 0, result.output
    document = json.loads(result.output)
    rows = sorted(row for theme in document["themes"] for row in theme["rows"])
    assert rows == [1, 2, 4, 5, 6]  # row 3 is empty and skipped


def test_themes_text_output_names_rows(runner, tmp_path):
    path = _write_csv(tmp_path, COMMENTS)
    result = runner.invoke(args=["themes", str(path), "--column", "comment"])
    assert result.exit_code == 0, result.output
    assert "5 comments" in result.output and "rows: " in result.output


def test_themes_names_the_columns_when_the_column_is_missing(runner, tmp_path):
    path = _write_csv(tmp_path, COMMENTS)
    result = runner.invoke(args=["themes", str(path), "--column", "text"])
    assert result.exit_code != 0
    assert "no column 'text'" in result.output and "comment" in result.output
