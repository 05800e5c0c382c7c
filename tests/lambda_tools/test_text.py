"""Tokenising, sentence splitting and Markdown reduction."""

from __future__ import annotations

from lambda_tools.text import markdown_to_text, split_sentences, tokenize


def test_tokenize_handles_case_punctuation_stop_words_and_plurals() -> None:
    assert tokenize("The Tasks, the TASK; and a task's events!") == ["task", "task", "task", "event"]


def test_tokenize_stems_verb_forms_together() -> None:
    assert len(set(tokenize("schedule scheduled scheduling schedules"))) == 1
    assert tokenize("running runs") == ["run", "run"]


def test_sentences_respect_abbreviations_and_blocks() -> None:
    text = "Dr. Smith arrived at 5 p.m. on Jan. 5. He left early! Did he?\n\nNext block"
    sentences = [text[a:b] for a, b in split_sentences(text)]
    assert sentences == ["Dr. Smith arrived at 5 p.m. on Jan. 5.", "He left early!", "Did he?", "Next block"]


def test_markdown_reduction_drops_code_and_keeps_list_items_apart() -> None:
    text = markdown_to_text("# Title\n\nSee [the docs](http://x).\n\n```py\nsecret_code()\n```\n- one\n- two")
    assert "secret_code" not in text and "http://x" not in text
    assert [text[a:b] for a, b in split_sentences(text)] == ["Title", "See the docs.", "one", "two"]
