"""Comment language and sentiment, offline, only where we can stand behind it.

Sentiment is TextBlob's lexicon polarity, which is English-only; its tokenizers and noun
phrases need corpora that cannot be downloaded here, so they are never used. Spanish is
recognised cheaply by counting function words, and a Spanish comment gets no sentiment
at all rather than a wrong one (issue 8). Pure: strings in, numbers and dataclasses out.
"""

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS
from textblob import TextBlob

Language = Literal["en", "es"]

#: Polarity above this counts as positive, below its negative as negative
POLARITY_THRESHOLD = 0.05

#: Spanish function words: for language detection and as stop words for theme labels
SPANISH_STOP_WORDS = frozenset(
    """
    a al algo algun alguna algunas alguno algunos ante antes aqui asi aun aunque bien
    cada casi como con contra cual cuales cuando cuanto de del desde donde dos el ella
    ellas ello ellos en entre era eran eres es esa esas ese eso esos esta estaba
    estaban estamos estan estar estas este esto estos estoy fue fueron ha habia han
    hasta hay la las le les lo los mas me mi mis mucho muchos muy nada ni no nos
    nosotros nuestra nuestras nuestro nuestros o otra otras otro otros para pero poco
    por porque que quien se sea ser si sido siempre sin sobre solo son soy su sus
    tambien tan tanto te tenemos tengo tiene tienen todo todos tu tus un una uno unos
    usted ustedes vez y ya yo él ésta está están aquí así aún más mí qué quién sí
    también tú sólo cómo dónde cuándo porqué
    """.split()
)

# Words that only count as evidence for one language: "a", "no", "me", "he" are both.
_SPANISH_ONLY = SPANISH_STOP_WORDS - ENGLISH_STOP_WORDS
_ENGLISH_ONLY = frozenset(ENGLISH_STOP_WORDS) - SPANISH_STOP_WORDS
_SPANISH_MARKS = re.compile(r"[ñ¿¡]", re.IGNORECASE)
_WORD = re.compile(r"\w+", re.UNICODE)


@dataclass(frozen=True)
class Sentiment:
    """Sentiment of a group of English comments; shares are fractions of ``comments``."""

    #: Mean TextBlob polarity, from -1 (negative) to 1 (positive)
    polarity: float
    positive_share: float
    negative_share: float
    #: How many comments it rests on (Spanish ones are left out)
    comments: int


def detect_language(text: str) -> Language:
    """Tell Spanish from English by function words; anything undecided counts as English.

    No model and no download: Spanish-only function words (and ñ, ¿, ¡) against
    English-only ones. Short answers such as "ok" or an emoji fall to English, whose
    sentiment lexicon then simply scores them neutral.
    """
    words = _WORD.findall(text.lower())
    spanish = sum(w in _SPANISH_ONLY for w in words)
    spanish += len(_SPANISH_MARKS.findall(text))
    english = sum(w in _ENGLISH_ONLY for w in words)
    return "es" if spanish > english else "en"


def comment_polarity(text: str) -> float | None:
    """Score one comment from -1 to 1, or ``None`` when it is not English."""
    if detect_language(text) != "en":
        return None
    return float(TextBlob(text).sentiment.polarity)


def polarity_class(polarity: float) -> Literal["positive", "neutral", "negative"]:
    """Bin a polarity into three classes at ``POLARITY_THRESHOLD``."""
    if polarity > POLARITY_THRESHOLD:
        return "positive"
    if polarity < -POLARITY_THRESHOLD:
        return "negative"
    return "neutral"


def summarize_sentiment(
    polarities: Iterable[float | None], *, minimum_share: float = 0.5
) -> Sentiment | None:
    """Average the polarities of a group, or ``None`` when too few are English.

    :param polarities: one per comment; ``None`` for comments without a sentiment
    :param minimum_share: smallest share of scored comments for a figure to be shown,
        so a mostly Spanish theme never displays the mood of its few English comments
    """
    values = list(polarities)
    scored = [p for p in values if p is not None]
    if not scored or len(scored) < minimum_share * len(values):
        return None
    return Sentiment(
        polarity=sum(scored) / len(scored),
        positive_share=sum(polarity_class(p) == "positive" for p in scored)
        / len(scored),
        negative_share=sum(polarity_class(p) == "negative" for p in scored)
        / len(scored),
        comments=len(scored),
    )
