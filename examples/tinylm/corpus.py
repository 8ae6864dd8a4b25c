"""Offline English text for the tiny language model: Python's own documentation, as 30 symbols.

The text is the help topics that ship with the standard library
(`pydoc_data.topics.topics`, about half a megabyte of reference prose), so
nothing is downloaded. It is normalized to a small alphabet a circuit can take
as a 5-bit token: lower-case letters, space, full stop, comma and apostrophe.

Normalization, in order (deterministic: topics in sorted key order):

1. lines that are not prose are dropped: lines without a letter (heading
   underlines, blank lines), table rows (`|`, `+-`), grammar rules (`::=`) and
   interactive sessions (`>>>`, `...`, `(Pdb)`);
2. lower case; typographic quotes become `'`;
3. every other character outside `VOCAB` becomes a space (so `__getattr__()`
   reads `getattr` and `built-in` reads `built in`);
4. runs of whitespace become one space, and a space before `.` or `,` goes.

The last `HELD_OUT_FRACTION` of the text is held out; the cut falls on a space
so no word is split across the two parts.
"""

from __future__ import annotations

import re

import numpy as np

__all__ = ["VOCAB", "HELD_OUT_FRACTION", "load_text", "encode", "decode", "splits"]

VOCAB = " ',.abcdefghijklmnopqrstuvwxyz"   # index = token id
HELD_OUT_FRACTION = 0.1
TYPOGRAPHIC_QUOTES = {"\u2018": "'", "\u2019": "'"}
NON_PROSE_LINE = re.compile(r"^\s*(\||\+-|>>>|\.\.\.|\(Pdb\))|::=")

_TOKEN_OF = {symbol: token for token, symbol in enumerate(VOCAB)}
_OUTSIDE_VOCAB = re.compile("[^" + re.escape(VOCAB) + "]")


def _is_prose(line: str) -> bool:
    return any(c.isalpha() for c in line) and not NON_PROSE_LINE.search(line)


def _normalize(text: str) -> str:
    text = text.lower()
    for quote, apostrophe in TYPOGRAPHIC_QUOTES.items():
        text = text.replace(quote, apostrophe)
    text = _OUTSIDE_VOCAB.sub(" ", text)
    text = re.sub(r"\s+", " ", text)
    return re.sub(r" ([.,])", r"\1", text).strip()


def load_text() -> str:
    """The whole corpus: the prose lines of every pydoc topic, normalized to `VOCAB`."""
    from pydoc_data.topics import topics

    prose = [line for key in sorted(topics) for line in topics[key].splitlines() if _is_prose(line)]
    return _normalize("\n".join(prose))


def encode(text: str) -> list[int]:
    """Token ids of `text`, which must hold only `VOCAB` symbols."""
    return [_TOKEN_OF[symbol] for symbol in text]


def decode(ids) -> str:
    """The text of token ids (any iterable of ints)."""
    return "".join(VOCAB[int(token)] for token in ids)


def splits() -> tuple[np.ndarray, np.ndarray]:
    """(train ids, held-out ids) as int64 arrays: the last `HELD_OUT_FRACTION` of the text is held out."""
    text = load_text()
    cut = text.rindex(" ", 0, round(len(text) * (1 - HELD_OUT_FRACTION)))
    ids = np.array(encode(text), dtype=np.int64)
    return ids[:cut], ids[cut:]
