"""Property: whatever the data and k, a built release survives its own joint attack."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.unit.release_helpers import Student, count_wave, tiny
from voice import lattice, privacy
from voice.release import WaveInfo

WAVE = WaveInfo(1, "w", "W", "Wave", "School", "tiny", 1, "2026-11-01")

student = st.builds(
    lambda group, grade, value: Student(
        group,
        numeric={} if value == 0 else {"belong": value},
        choices={} if grade is None else {"grade": [grade]},
    ),
    st.sampled_from(["a", "b", "c"]),
    st.sampled_from(["lower", "upper", "prefer_not", None]),
    st.integers(0, 5),
)


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(
    people=st.lists(student, min_size=0, max_size=70),
    k=st.integers(5, 12),
    groups=st.integers(1, 3),
)
def test_no_published_release_lets_an_lp_determine_a_withheld_figure(people, k, groups):
    names = ["a", "b", "c"][:groups]
    people = [p for p in people if p.group in names]
    instrument = tiny()
    counts = count_wave(instrument, names, people)
    release = lattice.build_release(
        instrument, counts, wave=WAVE, k=k, is_open_link=False
    )
    system = lattice.joint_system(instrument, counts, k=k)
    shown = lattice.published_keys(release)
    result = privacy.audit(system, {f.key for f in system.figures} - shown)
    assert result.passed, result.exposed
    for population in release.populations:
        cell = release.cell(population.key, "item:belong")
        if cell.n_text is not None:
            assert int(cell.n_text) % 5 == 0 and int(cell.n_text) >= 5
