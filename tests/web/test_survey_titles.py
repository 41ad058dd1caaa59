"""Staff pages show a survey's title in the reader's language where one exists."""

from __future__ import annotations

from voice.models import Survey

SNAPSHOT = {"title": {"en": "Affinity group pulse", "es": "Termómetro del grupo"}}


def test_the_instruments_title_is_shown_in_spanish_to_a_spanish_reader():
    survey = Survey(title="Affinity group pulse", instrument_snapshot=SNAPSHOT)
    assert survey.display_title("es") == "Termómetro del grupo"
    assert survey.display_title("en") == "Affinity group pulse"


def test_a_title_the_admin_typed_is_kept_in_every_language():
    survey = Survey(title="Lincoln climate, winter", instrument_snapshot=SNAPSHOT)
    assert survey.display_title("es") == "Lincoln climate, winter"


def test_a_snapshot_without_the_language_falls_back_to_the_title():
    survey = Survey(
        title="Affinity group pulse",
        instrument_snapshot={"title": {"en": "Affinity group pulse"}},
    )
    assert survey.display_title("es") == "Affinity group pulse"
