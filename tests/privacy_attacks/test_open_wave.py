"""While a wave is open one more submission changes nothing anyone can see."""

from __future__ import annotations

import random
import re

from tests.privacy_attacks.seed import add_response, make_wave, mini
from tests.web.admin_helpers import login
from voice import results
from voice.models import Role


def visible(client, survey_id: int) -> dict[str, tuple[int, str]]:
    """Fetch every result URL of the wave a school admin could open."""
    urls = [
        f"/exports/surveys/{survey_id}/release.csv",
        f"/exports/surveys/{survey_id}/release.json",
        f"/exports/surveys/{survey_id}/release.json?raw=1&k=1",
        f"/review/surveys/{survey_id}",
    ]
    pages = {}
    for url in urls:
        response = client.get(url)
        body = re.sub(r'value="[^"]*"', "", response.get_data(as_text=True))
        pages[url] = (response.status_code, body)
    return pages


def test_one_more_submission_changes_no_page_or_export(client, db, make_user):
    seeded = make_wave(sizes={"alpha": 30, "bravo": 21})
    db.session.commit()
    login(client, make_user(Role.admin, school=seeded.school))
    before = visible(client, seeded.survey.id)
    add_response(seeded.survey, seeded.groups["bravo"], mini(), random.Random(1))
    db.session.commit()
    assert visible(client, seeded.survey.id) == before
    assert all(status in (200, 404) for status, _ in before.values())
    assert before[f"/exports/surveys/{seeded.survey.id}/release.csv"][0] == 404


def test_an_open_wave_shows_only_a_rounded_participation_count(db):
    seeded = make_wave(sizes={"alpha": 30, "bravo": 21})
    db.session.commit()
    assert results.open_participation(seeded.survey) == 50
    assert results.stored_release(seeded.survey) is None
