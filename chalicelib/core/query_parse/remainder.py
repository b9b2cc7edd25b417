"""The remaining free text: the query minus its conditions, each leftover piece trimmed of English and Chinese
function words at its edges."""

from __future__ import annotations

import re
from typing import Final

from chalicelib.core.query_parse.normalise import _normalise
from chalicelib.core.text import CJK_RUN, ENGLISH_STOPWORDS, is_cjk

_EN_STOP: Final = (ENGLISH_STOPWORDS - {"no", "not"}) | {
    "photo", "photos", "picture", "pictures", "pic", "pics", "image", "images", "snapshot", "snapshots", "taken",
    "show", "find", "search", "display", "want", "see", "all", "some", "any", "during", "between", "s",
}  # fmt: skip
_CJK_LEADING: Final = (
    "帮我找", "帮我搜", "帮我看", "给我看", "我想看", "我想找", "我要看", "我要找", "查找", "查询", "搜索", "寻找", "显示",
    "看看", "所有的", "所有", "全部的", "全部", "一些", "关于", "有关", "我的", "我们的", "拍摄于", "摄于", "请", "找",
)  # fmt: skip
_CJK_TRAILING: Final = (
    "的照片", "的图片", "的相片", "照片", "图片", "相片", "图像", "影像", "相册", "的时候", "时候", "期间", "拍摄的",
    "拍下的", "拍的", "的", "了", "吗", "呢", "吧", "啊",
)  # fmt: skip
_CJK_AFTER_CONDITION: Final = ("拍摄的", "拍的", "的", "里", "中", "上", "内", "边", "年", "时", "和", "与", "及", "或")
_CJK_BEFORE_CONDITION: Final = ("拍摄于", "在", "于", "从", "自", "的", "和", "与", "及", "或")
_CJK_ANY: Final = frozenset(
    _CJK_LEADING + _CJK_TRAILING + _CJK_AFTER_CONDITION + _CJK_BEFORE_CONDITION + ("我", "我们", "张", "些")
)
_CJK_ANY_TOKENS: Final = tuple(sorted(_CJK_ANY, key=len, reverse=True))
_ALWAYS_REMOVED: Final = frozenset(
    ["的", "了", "吗", "呢", "吧", "啊"]
)  # one-character words never part of a longer one
_PUNCT: Final = " \t,.;:!?\"'()[]{}<>/\\|-–—~·、。“”‘’【】《》「」『』…"
_LATIN_WORD: Final = re.compile(r"[^\W_]+(?:'[^\W_]+)?")
_LATIN_WORD_END: Final = re.compile(r"[^\W_]+(?:'[^\W_]+)?$")


def _only_function_words(piece: str) -> bool:
    position = 0
    for run in CJK_RUN.finditer(piece):
        if not _latin_all_stop(piece[position : run.start()]) or not _cjk_all_stop(run.group()):
            return False
        position = run.end()
    return _latin_all_stop(piece[position:])


def _latin_all_stop(text: str) -> bool:
    return all(word.lower() in _EN_STOP for word in _LATIN_WORD.findall(text))


def _cjk_all_stop(run: str) -> bool:
    """Whether ``run`` splits entirely into function words."""
    reachable = [True] + [False] * len(run)
    for index in range(len(run)):
        if reachable[index]:
            for token in _CJK_ANY_TOKENS:
                if run.startswith(token, index):
                    reachable[index + len(token)] = True
    return reachable[-1]


def _trim(piece: str, after_condition: bool, before_condition: bool) -> str:
    """``piece`` without function words at its edges (one-character ones only where they stand apart)."""
    leading = sorted(_CJK_LEADING + (_CJK_AFTER_CONDITION if after_condition else ()), key=len, reverse=True)
    trailing = sorted(_CJK_TRAILING + (_CJK_BEFORE_CONDITION if before_condition else ()), key=len, reverse=True)
    text = piece.strip(_PUNCT)
    while text:
        rest = _trim_head(text, leading)
        if rest is None:
            break
        text = rest.strip(_PUNCT)
    while text:
        rest = _trim_tail(text, trailing)
        if rest is None:
            break
        text = rest.strip(_PUNCT)
    return text


def _trim_head(text: str, tokens: list[str]) -> str | None:
    if not is_cjk(text[0]):
        first_cjk = CJK_RUN.search(text)
        word = _LATIN_WORD.match(text[: first_cjk.start() if first_cjk else len(text)])
        if word is not None and word.group().lower() in _EN_STOP:
            return text[word.end() :]
        return None
    for token in tokens:
        if text.startswith(token):
            rest = text[len(token) :]
            if (
                len(token) > 1
                or token in _ALWAYS_REMOVED
                or not rest
                or not is_cjk(rest[0])
                or rest.startswith(_CJK_ANY_TOKENS)
            ):
                return rest
    return None


def _trim_tail(text: str, tokens: list[str]) -> str | None:
    if not is_cjk(text[-1]):
        last_cjk_end = max((run.end() for run in CJK_RUN.finditer(text)), default=0)
        word = _LATIN_WORD_END.search(text[last_cjk_end:])
        if word is not None and word.group().lower() in _EN_STOP:
            return text[: last_cjk_end + word.start()]
        return None
    for token in tokens:
        if text.endswith(token):
            rest = text[: -len(token)]
            if (
                len(token) > 1
                or token in _ALWAYS_REMOVED
                or not rest
                or not is_cjk(rest[-1])
                or rest.endswith(_CJK_ANY_TOKENS)
            ):
                return rest
    return None


def _remaining(query: str, taken: list[tuple[int, int]]) -> str:
    pieces: list[str] = []
    position = 0
    spans = sorted(taken)
    gaps: list[tuple[int, int]] = []
    for start, end in spans:
        if start > position:
            gaps.append((position, start))
        position = max(position, end)
    if position < len(query):
        gaps.append((position, len(query)))
    for start, end in gaps:
        piece = query[start:end]
        if not piece.strip(_PUNCT) or _only_function_words(piece):
            continue
        trimmed = _trim(piece, after_condition=start > 0, before_condition=end < len(query))
        if trimmed:
            pieces.append(trimmed)
    return _normalise(" ".join(pieces))
