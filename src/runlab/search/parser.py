"""Recursive-descent parser for search filters.

Grammar (keywords are case-insensitive)::

    filter     := or_expr END
    or_expr    := and_expr ("OR" and_expr)*
    and_expr   := not_expr ("AND" not_expr)*
    not_expr   := "NOT" not_expr | primary
    primary    := "(" or_expr ")" | comparison
    comparison := key operator value

MLflow accepts only comparisons joined by AND; OR, NOT and parentheses are runlab extensions with
the usual precedence (NOT binds tighter than AND, AND tighter than OR). Per-key rules (which
operators, which value types) come from a :class:`~runlab.search.grammar.Grammar`.
"""

from __future__ import annotations

from runlab.errors import InvalidParameter
from runlab.search.ast import And, Comparison, Expr, Key, Not, Or, Value
from runlab.search.grammar import (
    EXPERIMENT_GRAMMAR,
    RUN_GRAMMAR,
    Grammar,
    ValueKind,
    describe_key,
)
from runlab.search.tokens import KEYWORDS, Token, TokenKind, syntax_error, tokenize

__all__ = [
    "MAX_COMPARISONS",
    "MAX_NESTING",
    "Cursor",
    "parse_experiment_filter",
    "parse_filter",
    "parse_run_filter",
]

# Deep enough for any hand-written filter, shallow enough that a hostile one can exhaust neither
# the interpreter's recursion limit nor a database's: SQLite's parser stack (100 entries by
# default) overflows at about 40 nested NOTs around a dataset condition.
MAX_NESTING = 24

# Far more comparisons than any real filter has (MLflow's UI builds a handful), and few enough
# that no database struggles. SQLite refuses an expression tree deeper than 1000
# (SQLITE_MAX_EXPR_DEPTH), which about 500 attribute or dataset comparisons joined by AND reach
# ("Expression tree is too large"). PostgreSQL's planning time grows about with the cube of the
# number of tag or param conditions joined by AND: on a busy 2-core machine 100 take 0.6 s for
# runs and 6 s for model versions, 50 about an eighth of that.
MAX_COMPARISONS = 50

_OPERATOR_LIST = "=, !=, <, <=, >, >=, LIKE, ILIKE, IN, NOT IN, IS NULL, IS NOT NULL"


class Cursor:
    """A position in a token list plus the helpers both parsers share (keys, errors)."""

    def __init__(self, source: str, grammar: Grammar, label: str) -> None:
        self.source = source
        self.grammar = grammar
        self.label = label
        self.tokens = tokenize(source, label)
        self.index = 0

    @property
    def current(self) -> Token:
        """The token under the cursor (END once everything is consumed)."""
        return self.tokens[self.index]

    def peek(self, ahead: int = 1) -> Token:
        """The token ``ahead`` places after the current one (END past the end)."""
        return self.tokens[min(self.index + ahead, len(self.tokens) - 1)]

    def advance(self) -> Token:
        """Consume and return the current token."""
        token = self.current
        if token.kind is not TokenKind.END:
            self.index += 1
        return token

    def error(self, message: str) -> InvalidParameter:
        """An InvalidParameter quoting the whole input."""
        return syntax_error(self.source, self.label, message)

    def unexpected(self, expected: str, token: Token | None = None) -> InvalidParameter:
        """'unexpected token 'x' at position N; expected ...'."""
        token = token or self.current
        return self.error(
            f"unexpected {token.describe()} at position {token.pos}; expected {expected}"
        )

    def parse_key(self) -> Key:
        """Read one key in any accepted spelling and resolve it through the grammar."""
        token = self.current
        prefix: str | None
        if token.kind is TokenKind.WORD and token.text.upper() not in KEYWORDS:
            self.advance()
            text = token.text
            if "." in text:
                prefix, name = text.split(".", 1)
            else:
                prefix, name = None, text
                following = self.current
                joined = f"{text} {following.text}"
                # "Run name" is an attribute alias MLflow accepts with a bare space in it.
                if following.kind is TokenKind.WORD and self.grammar.is_multiword_alias(joined):
                    self.advance()
                    name = joined
        elif token.kind is TokenKind.QUOTED_KEY:
            self.advance()
            prefix, name = token.prefix, str(token.value)
        elif token.kind is TokenKind.STRING and token.quote == '"':
            # A double-quoted key in key position, like a quoted SQL identifier.
            self.advance()
            prefix, name = None, str(token.value)
        else:
            raise self.unexpected(
                f"a key (e.g. metrics.<name>, params.<name>, tags.<name> or a {self.grammar.entity} attribute)"
            )
        resolved = self.grammar.resolve(prefix, name)
        if isinstance(resolved, str):
            raise self.error(f"invalid key {token.text!r} at position {token.pos}: {resolved}")
        return resolved


class _FilterParser(Cursor):
    def __init__(self, source: str, grammar: Grammar) -> None:
        super().__init__(source, grammar, "filter")
        self.depth = 0
        self.comparisons = 0

    def parse(self) -> Expr:
        expr = self.or_expr()
        if self.current.kind is not TokenKind.END:
            raise self.unexpected("AND, OR or the end of the filter")
        return expr

    def or_expr(self) -> Expr:
        items = [self.and_expr()]
        while self.current.is_keyword("OR"):
            self.advance()
            items.append(self.and_expr())
        return _combine(Or, items)

    def and_expr(self) -> Expr:
        items = [self.not_expr()]
        while self.current.is_keyword("AND"):
            self.advance()
            items.append(self.not_expr())
        return _combine(And, items)

    def not_expr(self) -> Expr:
        if self.current.is_keyword("NOT"):
            self._enter()
            self.advance()
            item = self.not_expr()
            self.depth -= 1
            return Not(item)
        return self.primary()

    def primary(self) -> Expr:
        if self.current.kind is TokenKind.LPAREN:
            self._enter()
            self.advance()
            expr = self.or_expr()
            if self.current.kind is not TokenKind.RPAREN:
                raise self.unexpected("AND, OR or ')'")
            self.advance()
            self.depth -= 1
            return expr
        return self.comparison()

    def _enter(self) -> None:
        self.depth += 1
        if self.depth > MAX_NESTING:
            raise self.error(
                f"nesting deeper than {MAX_NESTING} levels at position {self.current.pos}"
            )

    def comparison(self) -> Comparison:
        self.comparisons += 1
        if self.comparisons > MAX_COMPARISONS:
            raise self.error(
                f"more than {MAX_COMPARISONS} comparisons (the next one is at position "
                f"{self.current.pos}); split the search, or use IN (...) for many values of one key"
            )
        key = self.parse_key()
        op_token = self.current
        op = self._operator()
        kind, allowed = self.grammar.rule(key)
        if op not in allowed:
            raise self.error(
                f"operator {op!r} at position {op_token.pos} is not supported for "
                f"{describe_key(key)}; expected one of {', '.join(allowed)}"
            )
        value: Value
        if op in ("IS NULL", "IS NOT NULL"):
            value = None
        elif op in ("IN", "NOT IN"):
            value = self._value_list(key, kind)
        else:
            value = self._value(key, kind)
        return Comparison(key, op, value)

    def _operator(self) -> str:
        token = self.current
        if token.kind is TokenKind.OP:
            self.advance()
            return token.text
        if token.is_keyword("LIKE", "ILIKE", "IN"):
            self.advance()
            return token.text.upper()
        if token.is_keyword("NOT"):
            self.advance()
            if not self.current.is_keyword("IN"):
                raise self.unexpected("IN after NOT")
            self.advance()
            return "NOT IN"
        if token.is_keyword("IS"):
            self.advance()
            negated = self.current.is_keyword("NOT")
            if negated:
                self.advance()
            if not self.current.is_keyword("NULL"):
                raise self.unexpected("NULL" if negated else "NULL or NOT NULL")
            self.advance()
            return "IS NOT NULL" if negated else "IS NULL"
        raise self.unexpected(f"an operator ({_OPERATOR_LIST})")

    def _value(self, key: Key, kind: ValueKind) -> int | float | str:
        token = self.current
        if kind is ValueKind.NUMBER and token.kind is TokenKind.NUMBER:
            self.advance()
            assert isinstance(token.value, (int, float))
            return token.value
        if kind is not ValueKind.NUMBER and token.kind is TokenKind.STRING:
            self.advance()
            return str(token.value)
        if kind is ValueKind.ID and token.kind is TokenKind.NUMBER and isinstance(token.value, int):
            self.advance()
            return str(token.value)
        raise self.unexpected(f"{kind.value} for {describe_key(key)}")

    def _value_list(self, key: Key, kind: ValueKind) -> tuple[str, ...]:
        if self.current.kind is not TokenKind.LPAREN:
            raise self.unexpected(f"'(' starting a list of values for {describe_key(key)}")
        self.advance()
        values = [str(self._value(key, kind))]
        while self.current.kind is TokenKind.COMMA:
            self.advance()
            values.append(str(self._value(key, kind)))
        if self.current.kind is not TokenKind.RPAREN:
            raise self.unexpected("',' or ')'")
        self.advance()
        return tuple(values)


def _combine(cls: type[And] | type[Or], items: list[Expr]) -> Expr:
    if len(items) == 1:
        return items[0]
    flat: list[Expr] = []
    for item in items:
        # (a AND b) AND c is And(a, b, c): a flat tree keeps the compiled SQL shallow.
        flat.extend(item.items if isinstance(item, cls) else (item,))
    return cls(tuple(flat))


def parse_filter(filter_string: str | None, grammar: Grammar) -> Expr | None:
    """Parse ``filter_string`` with ``grammar``; None or blank means no filter (None)."""
    if filter_string is None or not filter_string.strip():
        return None
    return _FilterParser(filter_string, grammar).parse()


def parse_run_filter(filter_string: str | None) -> Expr | None:
    """Parse a runs filter (``metrics.acc > 0.9 AND params.lr = '0.1'``) into an AST.

    Returns None for an empty filter. Raises InvalidParameter naming the offending token and its
    position when the filter is malformed or uses a key or operator the grammar does not allow.
    """
    return parse_filter(filter_string, RUN_GRAMMAR)


def parse_experiment_filter(filter_string: str | None) -> Expr | None:
    """Parse an experiments filter (``name LIKE 'exp%' AND tags.team = 'a'``) into an AST.

    Returns None for an empty filter; raises InvalidParameter when it is malformed.
    """
    return parse_filter(filter_string, EXPERIMENT_GRAMMAR)
