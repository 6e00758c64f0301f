"""The one exception type for mistakes a user can fix (bad arguments, missing data, bad files), the
one-line form of any error for a table or a record, and the small helpers that keep a message one
readable line: a name made printable, a whole-number check, the article before a word."""

from __future__ import annotations

import numbers
import os


class UserError(Exception):
    """A problem with the user's input; the command line prints it as one line and exits 2."""


def one_line(error: BaseException, limit: int = 200) -> str:
    """``Type: first line of the message``, at most ``limit`` characters of message."""
    lines = str(error).strip().splitlines()
    return f"{type(error).__name__}: {lines[0][:limit]}" if lines else type(error).__name__


def printable(name: str | os.PathLike) -> str:
    """``name`` (a file name or path) as text any terminal, file or figure can show, on one line: each
    character that is not printable escaped as Python writes it (``\\n``, ``\\t``), the bytes of a name in
    another encoding too (Python reads them as lone surrogates, ``\\udcff``), as a stream with
    ``errors="backslashreplace"`` writes them; other characters as they are."""
    text = os.fspath(name)
    if isinstance(text, bytes):
        text = os.fsdecode(text)
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in text)


def is_whole_number(value) -> bool:
    """Whether ``value`` is a whole number: an ``int``, or any other ``numbers.Integral`` (a NumPy integer),
    but not a bool: True and False are ints to Python, and a setting such as ``SEED = True`` is a
    mistake, not the seed 1."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def article(word: str) -> str:
    """``word`` after "a" or "an", by the sound it starts with: "an int", "a str", "an ndarray" (said
    en-dee-array), "a uint8" (said you-int)."""
    lower = word.lower()
    vowel = lower[:1] in ("a", "e", "i", "o", "u") and not lower.startswith(("uint", "uni", "use", "usu"))
    return f"{'an' if vowel or lower.startswith('nd') else 'a'} {word}"
