"""ContextualAnswer's answering side: an answer to the current question, grounded in the Files the caller passes.

The documented request carries the conversation (``Messages``) and ``Files``, normally the Results of a
ContextualRetrieval: full File objects. The response is ``Answer.Content`` and ``Answer.References``
(``[{ProjectName, DatasetName, ObjectId, URI}]``). The rule both answerers keep: **References are exactly the files
the answer used, and an answer the files do not support is never given** — when the files do not contain the answer,
Content says so plainly in the question's language and References is empty.

This module is what the answerers share: the ``Answer``, the ``Answerer`` protocol and the not-found answer. The
passed Files become ``AnswerFile``s in ``core.answer_sources``; the answerers are ``ExtractiveAnswerer``
(``core.extractive_answer``, no model) and ``GeneratedAnswerer`` (``core.generated_answer``, a ``Generator``).

Not found
    "The provided files do not contain the answer to this question." or, when the question has Han characters and
    no kana or Hangul, "所提供的文件中没有找到这个问题的答案。"; References empty.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final, Protocol

from chalicelib.core.answer_sources import AnswerFile
from chalicelib.core.conversation import Conversation

NOT_FOUND_EN: Final = "The provided files do not contain the answer to this question."
NOT_FOUND_ZH: Final = "所提供的文件中没有找到这个问题的答案。"


@dataclass(frozen=True, slots=True)
class Answer:
    content: str
    references: list[AnswerFile]


_HAN: Final = re.compile("[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_KANA_HANGUL: Final = re.compile("[\u3040-\u30ff\uff66-\uff9f\uac00-\ud7af]")


def is_chinese(text: str) -> bool:
    """Han characters and no kana or Hangul: the one non-English language the fixed messages cover."""
    return bool(_HAN.search(text)) and not _KANA_HANGUL.search(text)


def not_found(question: str) -> Answer:
    """The plain "the files do not say" answer, in the question's language, citing nothing."""
    return Answer(NOT_FOUND_ZH if is_chinese(question) else NOT_FOUND_EN, [])


class Answerer(Protocol):
    def answer(self, conversation: Conversation, files: Sequence[AnswerFile]) -> Answer: ...
