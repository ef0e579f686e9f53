"""The tokenizer shared by the filter and order_by parsers.

A hand-written scanner rather than a regular-expression split, so that every token keeps the
character position it started at: error messages point at the exact spot that is wrong.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass

from runlab.errors import InvalidParameter

__all__ = ["KEYWORDS", "Token", "TokenKind", "syntax_error", "tokenize"]


class TokenKind(enum.Enum):
    """What a token is."""

    WORD = "word"  # a bare identifier or keyword: metrics.acc, AND, LIKE
    QUOTED_KEY = "quoted key"  # `name` or prefix.`name` / prefix."name"
    STRING = "string"  # 'text' or "text"
    NUMBER = "number"
    OP = "operator"  # = != < <= > >=
    LPAREN = "("
    RPAREN = ")"
    COMMA = ","
    END = "end"


# Words with a meaning in the grammar; compared case-insensitively.
KEYWORDS = frozenset({"AND", "OR", "NOT", "IN", "LIKE", "ILIKE", "IS", "NULL"})


@dataclass(frozen=True)
class Token:
    """One token: its kind, its text as written, its decoded value and where it starts."""

    kind: TokenKind
    text: str
    pos: int
    # The decoded content: the unquoted string, the key name, the number; for a QUOTED_KEY
    # with a prefix (``tags.`a b` ``) ``prefix`` holds the part before the dot.
    value: str | int | float | None = None
    prefix: str | None = None
    quote: str | None = None

    def is_keyword(self, *words: str) -> bool:
        """True if this is a bare word equal (case-insensitively) to one of ``words``."""
        return self.kind is TokenKind.WORD and self.text.upper() in words

    def describe(self) -> str:
        """How the token is named in an error message."""
        if self.kind is TokenKind.END:
            return "end of input"
        return f"token {self.text!r}"


def syntax_error(source: str, label: str, message: str) -> InvalidParameter:
    """An InvalidParameter that quotes the whole input, e.g. ``Invalid filter '...': <message>``."""
    return InvalidParameter(f"Invalid {label} {source!r}: {message}")


_NUMBER_RE = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
_OPERATORS = ("<=", ">=", "!=", "=", "<", ">")
_WORD_EXTRA = frozenset("_.-/:")


def _is_word_start(ch: str) -> bool:
    return ch.isalpha() or ch == "_"


def _is_word_char(ch: str) -> bool:
    # Metric/param/tag keys may hold letters, digits, "_ - . / :" (and spaces, which need quoting).
    return ch.isalnum() or ch in _WORD_EXTRA


def _read_quoted(source: str, start: int, label: str) -> tuple[str, int]:
    """Read a quoted run starting at ``start`` (the opening quote); return (content, end index).

    Inside, the quote character is escaped by doubling it (SQL style) or by a backslash; any other
    backslash is kept as written, so LIKE escapes such as ``\\_`` reach the LIKE translator intact.
    """
    quote = source[start]
    out: list[str] = []
    i = start + 1
    n = len(source)
    while i < n:
        ch = source[i]
        if ch == "\\" and i + 1 < n and source[i + 1] == quote:
            out.append(quote)
            i += 2
            continue
        if ch == quote:
            if i + 1 < n and source[i + 1] == quote:
                out.append(quote)
                i += 2
                continue
            return "".join(out), i + 1
        out.append(ch)
        i += 1
    what = "quoted name" if quote == "`" else "string"
    raise syntax_error(
        source,
        label,
        f"unterminated {what} starting at position {start}; expected a closing {quote}",
    )


def _number_value(text: str) -> int | float:
    if re.fullmatch(r"[+-]?\d+", text):
        return int(text)
    return float(text)


def tokenize(source: str, label: str = "filter") -> list[Token]:
    """Split ``source`` into tokens, ending with one END token.

    ``label`` names the input in error messages ("filter", "order_by clause").
    Raises InvalidParameter on a character that starts no token or an unterminated quote.
    """
    tokens: list[Token] = []
    i = 0
    n = len(source)
    while i < n:
        ch = source[i]
        if ch.isspace():
            i += 1
            continue
        start = i
        if ch in "'\"":
            value, i = _read_quoted(source, i, label)
            tokens.append(Token(TokenKind.STRING, source[start:i], start, value, quote=ch))
        elif ch == "`":
            value, i = _read_quoted(source, i, label)
            tokens.append(Token(TokenKind.QUOTED_KEY, source[start:i], start, value, quote=ch))
        elif ch == "(":
            tokens.append(Token(TokenKind.LPAREN, ch, start))
            i += 1
        elif ch == ")":
            tokens.append(Token(TokenKind.RPAREN, ch, start))
            i += 1
        elif ch == ",":
            tokens.append(Token(TokenKind.COMMA, ch, start))
            i += 1
        elif (number := _NUMBER_RE.match(source, i)) is not None:
            i = number.end()
            tokens.append(
                Token(TokenKind.NUMBER, number.group(), start, _number_value(number.group()))
            )
        elif (op := next((o for o in _OPERATORS if source.startswith(o, i)), None)) is not None:
            i += len(op)
            tokens.append(Token(TokenKind.OP, op, start, op))
        elif _is_word_start(ch):
            while i < n and _is_word_char(source[i]):
                i += 1
            word = source[start:i]
            if word.endswith(".") and i < n and source[i] in '`"':
                # prefix.`quoted name` or prefix."quoted name": one key token.
                quote = source[i]
                value, i = _read_quoted(source, i, label)
                tokens.append(
                    Token(
                        TokenKind.QUOTED_KEY,
                        source[start:i],
                        start,
                        value,
                        prefix=word[:-1],
                        quote=quote,
                    )
                )
            else:
                tokens.append(Token(TokenKind.WORD, word, start, word))
        else:
            raise syntax_error(
                source,
                label,
                f"unexpected character {ch!r} at position {start}; expected a key, an operator, "
                "a quoted string, a number, a parenthesis or a comma",
            )
    tokens.append(Token(TokenKind.END, "", n))
    return tokens
