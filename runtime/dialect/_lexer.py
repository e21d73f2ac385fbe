"""Tokens of Wippy's Lua: Lua 5.4's lexical grammar plus the type syntax's ``->``, ``?``,
``?:``, ``!`` and ``@``.

The lexer only finds token boundaries; it never rejects what Lua itself would accept. Where the
text stops being lexable (an unfinished string, a stray character) it stops there with
:attr:`Lexed.stopped_at` set, and the translator leaves the rest of the source untouched so that
Lua reports that error at its own line, in its own words. Line numbers are found from a
token's offset when something asks (an error message, a same-line test), not counted for every
token: lexing is most of what translating costs.
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass

NAME, NUMBER, STRING, OP, EOF = "name", "number", "string", "op", "eof"

#: Lua's reserved words. Wippy's type words (``as``, ``is``, ``typeof``, ...) are not here: the
#: translator reads them by position, so plain Lua that uses them as names keeps working.
LUA_KEYWORDS = frozenset(
    [
        "and",
        "break",
        "do",
        "else",
        "elseif",
        "end",
        "false",
        "for",
        "function",
        "goto",
        "if",
        "in",
        "local",
        "nil",
        "not",
        "or",
        "repeat",
        "return",
        "then",
        "true",
        "until",
        "while",
    ]
)

#: How many EOF tokens end the list, so that parsers may look that far ahead unchecked.
LOOKAHEAD = 4


class Token:
    """One token: its kind, its text and where it sits (``start``/``end`` are offsets into the
    source)."""

    __slots__ = ("end", "kind", "start", "text")

    def __init__(self, kind: str, text: str, start: int, end: int) -> None:
        self.kind = kind
        self.text = text
        self.start = start
        self.end = end

    def __repr__(self) -> str:
        return f"Token({self.kind!r}, {self.text!r}, {self.start})"


@dataclass(slots=True)
class Lexed:
    """The tokens of a source (comments dropped), ending with :data:`LOOKAHEAD` EOF tokens."""

    tokens: list[Token]
    #: Offsets of the line breaks of the source, for :meth:`line`.
    newlines: list[int]
    #: The offset where lexing stopped early, or None when the whole source was read.
    stopped_at: int | None = None

    def line(self, offset: int) -> int:
        """The 1-based line of ``offset``."""
        return bisect.bisect_right(self.newlines, offset - 1) + 1


# One alternation, tried in order at every position: the frequent kinds first. An operator
# that begins a comment, a long string or a number (`--`, `[[`, `[=`, `.5`) is left to those.
_TOKEN = re.compile(
    r"""
    (?P<space>[ \t\r\n\f\v]+)
  | (?P<name>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<op>\.\.\.|\.\.|==|~=|<=|>=|<<|>>|//|::|->|\?:
       |[+*/%^\#&~|<>=(){};:,!?@\]]|-(?!-)|\[(?![=\[])|\.(?![0-9]))
  | (?P<number>(?:\.[0-9]|[0-9])(?:[eEpP][+-]|[0-9A-Za-z_.])*)
  | (?P<string>"(?:[^"\\\r\n]|\\z\s*|\\(?:\r\n|\n\r|.))*"
              |'(?:[^'\\\r\n]|\\z\s*|\\(?:\r\n|\n\r|.))*')
  | (?P<longcomment>--\[(?P<lceq>=*)\[.*?\](?P=lceq)\])
  | (?P<comment>--[^\r\n]*)
  | (?P<longstring>\[(?P<lseq>=*)\[.*?\](?P=lseq)\])
    """,
    re.VERBOSE | re.DOTALL,
)
_NEWLINE = re.compile("\n")
_SKIPPED = frozenset({"space", "comment", "longcomment"})


def lex(source: str) -> Lexed:
    """Split ``source`` into tokens. Never raises; see :class:`Lexed`."""
    tokens: list[Token] = []
    append = tokens.append
    skipped = _SKIPPED
    pos, n = 0, len(source)
    # A first line starting with '#' (a shebang) is skipped by Lua's loader.
    if source.startswith("#"):
        pos = source.find("\n")
        pos = n if pos < 0 else pos
    stopped = None
    for m in _TOKEN.finditer(source, pos):
        start = m.start()
        if start != pos:  # a gap: nothing there is a token
            stopped = pos
            break
        kind = m.lastgroup
        pos = m.end()
        if kind in skipped:
            continue
        if kind == "longstring":
            kind = STRING
        append(Token(kind, m.group(), start, pos))  # type: ignore[arg-type]
    else:
        if pos < n:
            stopped = pos
    end = n if stopped is None else stopped
    eof = Token(EOF, "", end, end)
    tokens.extend([eof] * LOOKAHEAD)
    newlines = [m.start() for m in _NEWLINE.finditer(source)]
    return Lexed(tokens, newlines, stopped)
