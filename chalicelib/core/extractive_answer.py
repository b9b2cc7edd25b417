"""ContextualAnswer without a model: the files' best-matching sentences, quoted verbatim.

Extractive answers (``ExtractiveAnswerer``, no model)
    The files' texts are split into sentences (line breaks end a sentence, except an English line broken inside a
    sentence; then Latin ``.!?;`` followed by a space and Chinese ``。！？；``). Each passage (below) is scored against
    the question by IDF-weighted term coverage: terms are English words (stop words and question words dropped,
    light suffix stripping) and CJK bigrams (Chinese function words and question words such as 的, 是, 什么, 多少
    removed first, so "保修期是多久" asks for 保修/修期). IDF is computed over the files' distinct sentences, so a term no
    sentence has weighs most: a question whose key term is in none of the files scores low, which is how "not
    found" is detected. For a follow-up, the conversation's opening message (where the subject is named, see
    ``core.conversation``) adds its terms at half weight; at least one of the question's own terms must match, so a
    follow-up about something absent is not answered with a sentence that only mentions the subject. The opener's
    terms are matched against the sentence's whole file, since a manual names its product once, not in every line.
    What is scored is a passage: one sentence, or two adjacent sentences of one text, since a document often names
    its subject in one sentence and gives the fact in the next; a pair is preferred only when it scores higher than
    its sentences. The best passage answers when its score reaches ``ExtractiveAnswerer.threshold`` (0.5); more
    follow when they score at least ``SUPPORT_RATIO`` (0.75) of the best, up to 3 sentences in all. They are quoted
    verbatim, best first, and the References are their files, deduplicated, in order of use; a sentence repeated in
    several files is quoted once and cites the first. A passage ending in a question (``?``/``？``, as in an FAQ)
    is never the answer.
    Text in a file is only ever scored and quoted, never obeyed: an injected "ignore previous instructions" is a
    sentence like any other and is quoted only if it is the best match for the question.
    It matches words, not meaning. A question whose only content word is its subject ("长城有多长?" → 长城) is
    answered with the best sentences about the subject, and a question combining two facts held by different
    sentences (the warranty of Model Y, when only Model X's warranty is given) can quote both; the generated
    answerer is the one that reads.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from chalicelib.core.answer import Answer, not_found
from chalicelib.core.answer_sources import AnswerFile
from chalicelib.core.conversation import Conversation
from chalicelib.core.text import cjk_bigrams, content_terms, split_scripts, split_sentences

# Question words that ENGLISH_STOPWORDS keeps ("how many", "how long"): they say what kind of answer is wanted, not
# what it is about, and a sentence rarely repeats them.
_QUESTION_WORDS: Final = frozenset({"many", "much", "long", "often", "kind", "any", "some", "know", "say", "give"})
# Chinese function and question words, removed from a CJK run before it is cut into bigrams; longest first so the
# alternation prefers 是不是 to 是.
# fmt: off
_CJK_STOP_WORDS: Final = (
    # question words
    "什么时候", "为什么", "是不是", "多少钱", "什么", "时候", "多少", "多久", "多长", "多远", "多大", "多高", "哪里",
    "哪儿", "哪些", "哪个", "怎么", "怎样", "如何", "是否", "几个", "几",
    # conversational verbs and pronouns ("我想了解…", "请告诉我…")
    "请问", "告诉", "了解", "介绍", "知道", "一下", "一些", "关于", "想要", "想", "请", "我们", "你们", "他们", "它们",
    "这个", "那个", "这些", "那些", "那么", "可以", "我", "你", "它", "他", "她", "这", "那",
    # particles, copula and conjunctions
    "没有", "吗", "呢", "吧", "啊", "呀", "的", "了", "是", "有", "在", "和", "与", "及", "也", "都",
)
# fmt: on
_CJK_STOP: Final = re.compile("|".join(sorted(_CJK_STOP_WORDS, key=len, reverse=True)))
_SENTENCE_CLOSED: Final = re.compile(r"[.!?;:。！？；：…]['\"”’)）」』]*$")
_QUESTION_MARK: Final = re.compile(r"[?？]['\"”’)）」』]*$")
CONTEXT_WEIGHT: Final = 0.5  # the opening message's terms count half as much as the question's own
SUPPORT_RATIO: Final = 0.75
MAX_SENTENCES: Final = 3


def terms(text: str, *, characters: bool = False) -> set[str]:
    """Content terms: stemmed English words and CJK bigrams (see the module docstring).

    ``characters`` adds each CJK character too. Sentences are indexed that way so a question reduced to one
    character ("有票吗" → 票) can still match; questions never add them, so a bigram question term only meets bigrams.
    """
    found: set[str] = set()
    for cjk, segment in split_scripts(text):
        if not cjk:
            found |= content_terms(segment)
            continue
        for run in _CJK_STOP.split(segment):
            if run:
                found.update(cjk_bigrams(run))
                if characters:
                    found.update(run)
    return found - _QUESTION_WORDS


def sentences(text: str) -> list[str]:
    """Sentences of one text: a line break ends one unless an English sentence continues in lower case after it."""
    lines: list[str] = []
    for line in (line.strip() for line in text.split("\n")):
        if not line:
            continue
        if lines and line[0].islower() and not _SENTENCE_CLOSED.search(lines[-1]):
            lines[-1] = f"{lines[-1]} {line}"
        else:
            lines.append(line)
    return [sentence for line in lines for sentence in split_sentences(line)]


@dataclass(frozen=True, slots=True)
class _Sentence:
    file: int  # index into the files
    text: str
    terms: frozenset[str]


@dataclass(frozen=True, slots=True)
class _Passage:
    """What can be quoted: one sentence, or two adjacent sentences of one text (the subject in one, the fact in the
    next: "The Palace Museum is in Beijing. An adult ticket costs 60 yuan.")."""

    file: int
    sentences: tuple[int, ...]  # indices into the sentence list, in document order
    terms: frozenset[str]
    file_terms: frozenset[str]  # the terms of the passage's whole file
    ends_with_question: bool


class ExtractiveAnswerer:
    """Answers with the files' best-matching sentences, quoted verbatim; no model involved (module docstring)."""

    def __init__(self, threshold: float = 0.5) -> None:
        if not 0.0 < threshold <= 1.0:
            raise ValueError(f"threshold must be in (0, 1], got {threshold!r}")
        self.threshold = threshold

    def answer(self, conversation: Conversation, files: Sequence[AnswerFile]) -> Answer:
        question = conversation.question.strip()
        focus = terms(question)
        opener = next((m.content.strip() for m in conversation.history if m.role == "user" and m.content.strip()), "")
        context = terms(opener) - focus if opener and opener != question else set()
        if not focus:  # "and then?" names nothing: the opening message is the subject
            focus, context = context, set()
        found, passages = _evidence(files)
        if not focus or not found:
            return not_found(question)

        idf = _idf(focus | context, found)
        total = sum(idf[t] for t in focus) + CONTEXT_WEIGHT * sum(idf[t] for t in context)
        scored: list[tuple[float, _Passage]] = []
        for passage in passages:
            matched = focus & passage.terms
            if not matched or passage.ends_with_question:
                continue
            # The subject may be named anywhere in the file: "Installation takes one day." in the Model X manual.
            about = context & passage.file_terms
            score = sum(idf[t] for t in matched) + CONTEXT_WEIGHT * sum(idf[t] for t in about)
            scored.append((round(score / total, 9), passage))
        # Best first; a pair must beat its sentences to be preferred; otherwise the files' (ranking) order.
        scored.sort(key=lambda item: (-item[0], len(item[1].sentences)))
        if not scored or scored[0][0] < self.threshold:
            return not_found(question)

        floor = max(self.threshold, SUPPORT_RATIO * scored[0][0])
        picked: list[_Passage] = []
        quoted: set[int] = set()
        for score, passage in scored:
            if score < floor:
                break
            if quoted.isdisjoint(passage.sentences) and len(quoted) + len(passage.sentences) <= MAX_SENTENCES:
                picked.append(passage)
                quoted.update(passage.sentences)
        content = _join([found[index].text for passage in picked for index in passage.sentences])
        used = dict.fromkeys(passage.file for passage in picked)  # ordered, deduplicated
        return Answer(content, [files[index] for index in used])


def _evidence(files: Sequence[AnswerFile]) -> tuple[list[_Sentence], list[_Passage]]:
    """Every distinct sentence with terms, from the first file that has it, and the passages they form.

    A sentence repeated (a shared boilerplate line, the same file indexed twice) is one piece of evidence: it is
    quoted once, and counted once in the IDF so the repetition does not make its terms look common. Pairs are made
    of sentences adjacent in one text (an element content or a metadata field), never across texts or files.
    """
    found: list[_Sentence] = []
    passages: list[_Passage] = []
    seen: set[str] = set()
    for index, file in enumerate(files):
        texts = [[(text, terms(text, characters=True)) for text in sentences(whole)] for whole in file.texts]
        file_terms = frozenset().union(*(sentence_terms for text in texts for _, sentence_terms in text))
        runs: list[list[int]] = []
        for text in texts:
            runs.append([])
            for sentence, sentence_terms in text:
                if not sentence_terms or sentence in seen:
                    runs.append([])  # what is not quoted breaks adjacency
                    continue
                seen.add(sentence)
                found.append(_Sentence(index, sentence, frozenset(sentence_terms)))
                runs[-1].append(len(found) - 1)
        for run in runs:
            for position, first in enumerate(run):
                group = [(first,), (first, run[position + 1])] if position + 1 < len(run) else [(first,)]
                for members in group:
                    passages.append(
                        _Passage(
                            index,
                            members,
                            frozenset().union(*(found[member].terms for member in members)),
                            file_terms,
                            bool(_QUESTION_MARK.search(found[members[-1]].text)),
                        )
                    )
    return found, passages


def _idf(wanted: set[str], found: Sequence[_Sentence]) -> dict[str, float]:
    """BM25's IDF over the distinct sentences: always positive, highest for a term no sentence has."""
    count = len(found)
    idf: dict[str, float] = {}
    for term in wanted:
        frequency = sum(1 for sentence in found if term in sentence.terms)
        idf[term] = math.log(1.0 + (count - frequency + 0.5) / (frequency + 0.5))
    return idf


def _join(quoted: Sequence[str]) -> str:
    """Sentences joined as text: no space after a CJK sentence end (Chinese prose has none), one space otherwise."""
    text = ""
    for sentence in quoted:
        if text and not re.search(r"[。！？；」』）]$", text):
            text += " "
        text += sentence
    return text
