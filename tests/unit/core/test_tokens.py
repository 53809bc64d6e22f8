"""Tokens of Chinese, English and mixed text, and the dictionary of domain terms."""

from __future__ import annotations

import random

from core.tokens import add_terms, dictionary_version, terms_added_since, tokens


def test_chinese_is_cut_in_search_mode_and_english_is_lower_cased_words() -> None:
    assert tokens("数据分析") == ["数据", "分析", "数据分析"]  # the long word and the words inside it
    assert tokens("Learn Python3, C++ and C#!") == ["learn", "python3", "c++", "c#"]  # "and" is a stop word
    assert tokens("Python 数据分析") == ["python", "数据", "分析", "数据分析"]


def test_full_width_letters_are_the_same_words() -> None:
    assert tokens("ｐｙｔｈｏｎ　入門") == tokens("python 入門")


def test_a_new_domain_term_stays_whole_and_is_reported_once() -> None:
    term = "".join(random.SystemRandom().choice("璨琨瑜瑾琳璐珂玥珏琦") for _ in range(4))  # new every run
    before = dictionary_version()
    assert f"{term}技巧入门" not in tokens(f"学习{term}技巧入门")
    assert add_terms([f"{term}技巧入门", "Python"]) >= 1
    assert term + "技巧入门" in tokens(f"学习{term}技巧入门")
    assert f"{term}技巧入门" in terms_added_since(before)
    assert add_terms([f"{term}技巧入门"]) == 0  # idempotent


def test_a_phrase_jieba_already_keeps_whole_is_not_added() -> None:
    before = dictionary_version()
    assert add_terms(["摄影", "学习"]) == 0
    assert terms_added_since(before) == []
