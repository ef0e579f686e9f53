"""Reading an MLproject's YAML as nodes, so that every error names the file, the line and the field.

``yaml.safe_load`` forgets where each value was written; composing the document keeps the node
tree with each node's position (its *mark*), and values are constructed from the nodes one by
one. :class:`MLprojectError` carries the file, the 1-based line and the dotted field name.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from runlab.errors import InvalidParameter

__all__ = ["MLprojectError", "NodeReader"]

_STR = "tag:yaml.org,2002:str"
_NULL = "tag:yaml.org,2002:null"
# An MLproject is a few lines; anything this large is not one, and is not worth parsing.
_MAX_BYTES = 1 << 20


class MLprojectError(InvalidParameter):
    """An MLproject file that cannot be used: names the file, the line (1-based) and the field."""

    def __init__(self, path: str | Path, line: int, field: str, problem: str) -> None:
        self.path = str(path)
        self.line = line
        self.field = field
        self.problem = problem
        where = f"{self.path}, line {line}" if line else self.path
        super().__init__(f"{where}, {field}: {problem}")

    def __reduce__(self) -> tuple[object, ...]:
        # The base class pickles (message, code); this constructor takes the parts instead.
        return (type(self), (self.path, self.line, self.field, self.problem))


class NodeReader:
    """Walks one composed MLproject document, checking shapes and constructing scalar values."""

    def __init__(self, path: Path, text: str) -> None:
        self.path = path
        self.source = text
        self._loader = yaml.SafeLoader(text)

    @classmethod
    def from_file(cls, path: Path) -> NodeReader:
        """A reader of ``path``; a file too large or not UTF-8 text is refused."""
        try:
            data = path.read_bytes()
        except OSError as error:
            raise MLprojectError(path, 0, "(file)", f"cannot be read: {error.strerror}") from None
        if len(data) > _MAX_BYTES:
            raise MLprojectError(path, 0, "(file)", f"is larger than {_MAX_BYTES} bytes.")
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError as error:
            line = data.count(b"\n", 0, error.start) + 1
            raise MLprojectError(path, line, "(file)", "is not UTF-8 text.") from None
        return cls(path, text)

    def close(self) -> None:
        """Release the loader's state."""
        self._loader.dispose()

    def root(self) -> yaml.Node:
        """The document's top node; a YAML syntax error or an empty file is an MLprojectError."""
        try:
            node = self._loader.get_single_node()
        except yaml.MarkedYAMLError as error:
            mark = error.problem_mark or error.context_mark
            problem = error.problem or error.context or "not valid YAML"
            raise MLprojectError(
                self.path, mark.line + 1 if mark else 0, "(YAML syntax)", f"{problem}."
            ) from None
        except yaml.YAMLError as error:
            position = getattr(error, "position", None)
            line = self.source.count("\n", 0, position) + 1 if isinstance(position, int) else 0
            raise MLprojectError(self.path, line, "(YAML syntax)", str(error)) from None
        if node is None:
            raise MLprojectError(
                self.path,
                1,
                "(document)",
                "the file is empty; it must be a mapping with "
                "entry_points (and optionally name and one environment).",
            )
        return node

    # -- positions and errors ------------------------------------------------------------------

    @staticmethod
    def line(node: yaml.Node) -> int:
        """The 1-based line where ``node`` starts."""
        return int(node.start_mark.line) + 1

    def line_of(self, node: yaml.Node, needle: str) -> int:
        """The line of ``needle``'s first appearance in ``node``'s source text, else its start."""
        start, end = node.start_mark.index, node.end_mark.index
        found = self.source.find(needle, start, end)
        if found < 0:
            return self.line(node)
        return self.source.count("\n", 0, found) + 1

    def error(self, node: yaml.Node, field: str, problem: str) -> MLprojectError:
        """An error at ``node``'s line about ``field`` (the top level when ``field`` is empty)."""
        return MLprojectError(self.path, self.line(node), field or "(top level)", problem)

    # -- shapes --------------------------------------------------------------------------------

    @staticmethod
    def is_null(node: yaml.Node) -> bool:
        """True for an empty value or an explicit ``null`` / ``~``."""
        return isinstance(node, yaml.ScalarNode) and node.tag == _NULL

    def items(
        self, node: yaml.Node, field: str, allowed: tuple[str, ...] | None = None
    ) -> list[tuple[str, yaml.Node, yaml.Node]]:
        """A mapping's ``(key, key node, value node)`` entries, checked.

        Keys must be text and appear once; with ``allowed``, only those keys may appear.
        Merge keys (``<<: *anchor``) are applied first, as YAML loaders do.
        """
        if not isinstance(node, yaml.MappingNode):
            raise self.error(node, field, f"expected a mapping, got {self._describe(node)}.")
        try:
            self._loader.flatten_mapping(node)
        except yaml.MarkedYAMLError as error:
            raise self.error(node, field, f"{error.problem}.") from None
        seen: set[str] = set()
        entries: list[tuple[str, yaml.Node, yaml.Node]] = []
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode) or self.is_null(key_node):
                raise self.error(key_node, field, "every key must be a name (text).")
            key = str(key_node.value)
            where = f"{field}.{key}" if field else key
            if key in seen:
                raise self.error(key_node, where, "appears twice; give each key once.")
            seen.add(key)
            if allowed is not None and key not in allowed:
                raise self.error(
                    key_node,
                    where,
                    f"unknown field {key!r}; the fields here are {', '.join(allowed)}.",
                )
            entries.append((key, key_node, value_node))
        return entries

    def text(self, node: yaml.Node, field: str, what: str = "text") -> str:
        """A scalar written as text (not a number, a boolean or null)."""
        if not isinstance(node, yaml.ScalarNode) or node.tag != _STR:
            raise self.error(node, field, f"expected {what}, got {self._describe(node)}.")
        return str(node.value)

    def sequence(self, node: yaml.Node, field: str) -> list[yaml.Node]:
        """A sequence's item nodes."""
        if not isinstance(node, yaml.SequenceNode):
            raise self.error(node, field, f"expected a list, got {self._describe(node)}.")
        return list(node.value)

    def scalar_value(self, node: yaml.Node, field: str) -> Any:
        """A scalar's value as YAML reads it (a number, a boolean, text, a date, None)."""
        if not isinstance(node, yaml.ScalarNode):
            raise self.error(node, field, f"expected a single value, got {self._describe(node)}.")
        try:
            return self._loader.construct_object(node, deep=True)
        except yaml.YAMLError as error:
            problem = getattr(error, "problem", None) or str(error)
            raise self.error(node, field, f"{problem}.") from None

    @staticmethod
    def _describe(node: yaml.Node) -> str:
        if isinstance(node, yaml.MappingNode):
            return "a mapping"
        if isinstance(node, yaml.SequenceNode):
            return "a list"
        if node.tag == _NULL:
            return "nothing (null)"
        if node.tag == _STR:
            return f"the text {node.value!r}"
        return f"{node.value} ({node.tag.rsplit(':', 1)[-1]})"
