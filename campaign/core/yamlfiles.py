"""Reading YAML written by people (campaign files, content packs, station files) within bounds.

`load_yaml(text, source=...)` is `yaml.safe_load` that refuses what could exhaust the machine:
a document larger than `max_bytes`, nesting deeper than `MAX_DEPTH`, and anchors/aliases whose
expansion would exceed `max_values` values (the "billion laughs": nine lines of aliases that
expand to 10^9 strings once anything walks the data). Aliases within the bound keep working
(`<<: *defaults` to share step settings). Errors are `Invalid(source, ...)` naming the line and
column. Pure: text in, plain data out.
"""

from __future__ import annotations

from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, SequenceNode

from campaign.core.errors import Invalid
from campaign.core.i18n import _

MAX_BYTES = 2_000_000
MAX_VALUES = 100_000
MAX_DEPTH = 50


class _Loader(yaml.SafeLoader):
    """SafeLoader that stops composing deeper than MAX_DEPTH (PyYAML composes recursively)."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent: Node | None, index: Any) -> Node | None:
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                mark = self.peek_event().start_mark
                raise _Refused(_("nested more than %(max)d levels deep", max=MAX_DEPTH), mark)
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


class _Refused(Exception):
    def __init__(self, reason: str, mark: Any) -> None:
        super().__init__(reason)
        self.reason = reason
        self.mark = mark


def _where(mark: Any) -> str:
    return (
        _(" at line %(line)d, column %(column)d", line=mark.line + 1, column=mark.column + 1) if mark else ""
    )


def expanded_size(root: Node, *, limit: int) -> int:
    """How many values the document holds once every alias is expanded (counted, not built).

    Raises _Refused past `limit`, or for an alias that contains itself. Iterative, memoized per
    node: linear in the document's size whatever the expansion.
    """
    sizes: dict[int, int] = {}
    active: set[int] = set()
    stack: list[tuple[Node, bool]] = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        key = id(node)
        if key in sizes and not children_done:
            continue
        children: list[Node] = []
        if isinstance(node, SequenceNode):
            children = list(node.value)
        elif isinstance(node, MappingNode):
            children = [part for pair in node.value for part in pair]
        if not children_done:
            if key in active:
                raise _Refused(_("an alias refers to a value that contains it"), node.start_mark)
            active.add(key)
            stack.append((node, True))
            for child in children:
                if id(child) in active:
                    raise _Refused(_("an alias refers to a value that contains it"), child.start_mark)
                if id(child) not in sizes:
                    stack.append((child, False))
            continue
        active.discard(key)
        total = 1 + sum(sizes[id(child)] for child in children)
        if total > limit:
            raise _Refused(_("aliases expand to more than %(max)d values", max=limit), node.start_mark)
        sizes[key] = total
    return sizes[id(root)]


def load_yaml(text: str, *, source: str, max_bytes: int = MAX_BYTES, max_values: int = MAX_VALUES) -> Any:
    """Parses one YAML document written by a person; raises Invalid(source, ...) when it is not
    valid YAML or exceeds a bound (size, nesting, alias expansion), naming line and column."""
    if len(text.encode("utf-8")) > max_bytes:
        raise Invalid(source, _("the file is larger than %(max)d KB", max=max_bytes // 1000))
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        expanded_size(node, limit=max_values)
        return loader.construct_document(node)
    except _Refused as exc:
        raise Invalid(source, exc.reason + _where(exc.mark)) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise Invalid(
            source, _("not valid YAML%(where)s: %(problem)s", where=_where(mark), problem=problem)
        ) from None
    finally:
        loader.dispose()
