"""Words of a course text or a query, in Chinese, English or both: what search and recommendations index.

:func:`tokens` splits a text into runs of Han characters and runs of Latin letters/digits.
Han runs are segmented by jieba in *search mode* (``cut_for_search``: a long word also yields
its shorter dictionary words, so 机器学习 matches a query for 学习); Latin runs become
lower-cased words (``Python3`` → ``python3``; ``C++``/``C#`` keep their sign). Punctuation,
whitespace and one-letter Latin tokens are dropped (single Han characters are kept: 画, 茶, and so are
single digits), and so are a few stop words that carry no topic (的, 了, the, and …). Text is NFKC-normalized
first, so full-width letters typed with a Chinese input method (``ｐｙｔｈｏｎ``) are the same words.

Domain terms (course titles, tags) are added to jieba's dictionary with :func:`add_terms`, so
"零基础" or "深度学习入门" stay whole instead of being cut into characters. jieba's
dictionary is global to the process and loading it costs ~0.7 s once: :func:`warm_up` does
it ahead of the first query (the composition root calls it at start-up).

A phrase jieba already cuts whole is only remembered; any other is added, and from then on texts
containing it may be cut differently. Callers that keep tokens (the search index) note
:func:`dictionary_version` and later ask :func:`terms_added_since` which phrases to look for in
the texts they segmented before.

Thread-safe: the dictionary may grow in one thread while another segments.
"""

from __future__ import annotations

import logging
import re
import threading
import unicodedata
from collections.abc import Iterable

import jieba

__all__ = ["STOP_WORDS", "add_terms", "dictionary_version", "terms_added_since", "tokens", "warm_up"]

jieba.setLogLevel(logging.WARNING)  # it logs the dictionary load at INFO, on stderr, with its own handler

_RUNS = re.compile(r"([\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+)|([A-Za-z0-9]+(?:[+#]+)?)")
_lock = threading.Lock()
_known: set[str] = set()  # every phrase offered, whether it was added or jieba already had it whole
_added: list[str] = []  # the phrases that changed the dictionary, in order

STOP_WORDS = frozenset(
    {
        # zh: particles and function words that match everything
        "的", "了", "和", "与", "及", "是", "在", "也", "就", "都", "而", "并", "或", "把", "被", "对", "从",
        "这", "那", "之", "其", "你", "我", "他", "她", "它", "们", "一个", "一些", "什么", "怎么", "如何",
        # en
        "a", "an", "and", "are", "as", "at", "be", "by", "for", "from", "how", "in", "into", "is", "it",
        "of", "on", "or", "the", "to", "with", "your", "you", "what",
    }
)  # fmt: skip


def warm_up() -> None:
    """Load jieba's dictionary now (~0.7 s, once per process) rather than on the first query."""
    jieba.initialize()


def add_terms(terms: Iterable[str]) -> int:
    """Keep these phrases whole when segmenting (titles, tags); returns how many were new to the dictionary.

    Only Han phrases of 2 to 12 characters matter to jieba; anything else is ignored. Idempotent,
    thread-safe, and cheap for terms already known.
    """
    added = 0
    with _lock:
        for term in terms:
            for han, _latin in _RUNS.findall(unicodedata.normalize("NFKC", term or "")):
                if 2 <= len(han) <= 12 and han not in _known:
                    _known.add(han)
                    if list(jieba.cut(han, HMM=False)) != [han]:
                        jieba.add_word(han, freq=None, tag="nz")
                        _added.append(han)
                        added += 1
    return added


def dictionary_version() -> int:
    """A counter of the phrases :func:`add_terms` added so far (see :func:`terms_added_since`)."""
    return len(_added)


def terms_added_since(version: int) -> list[str]:
    """The phrases added after :func:`dictionary_version` returned ``version``."""
    with _lock:
        return _added[version:]


def tokens(text: str) -> list[str]:
    """The text's index terms, in order, repeats kept (term frequency matters to ranking)."""
    out: list[str] = []
    for han, latin in _RUNS.findall(unicodedata.normalize("NFKC", text) if text else ""):
        if han:
            out.extend(w for w in jieba.cut_for_search(han, HMM=True) if w not in STOP_WORDS)
        else:
            word = latin.lower()
            if (len(word) > 1 or word.isdigit()) and word not in STOP_WORDS:
                out.append(word)
    return out
