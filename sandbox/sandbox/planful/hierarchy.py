"""Member hierarchies written as indented outlines, so the seed reads like a chart of accounts.

One member per line, two spaces of indentation per level::

    CODE Display name | key=value; @Attribute name=value

Plain `key=value` pairs are properties the seed interprets (`type`, `op`, `status`, `currency`…);
`@Name=value` pairs become user-defined attributes. Both are inherited by descendants unless a
descendant sets its own value.
"""

from __future__ import annotations

from dataclasses import dataclass, field

INDENT = 2


@dataclass(eq=False)
class Node:
    """One member of a hierarchy."""

    code: str
    name: str
    parent: Node | None = None
    properties: dict[str, str] = field(default_factory=dict)
    attributes: dict[str, str] = field(default_factory=dict)
    children: list[Node] = field(default_factory=list)

    @property
    def is_leaf(self) -> bool:
        return not self.children

    def ancestors(self) -> list[Node]:
        """Ancestors from the root down to the parent."""
        chain: list[Node] = []
        node = self.parent
        while node is not None:
            chain.append(node)
            node = node.parent
        return chain[::-1]

    def descendants(self) -> list[Node]:
        """Every member below this one, in outline order."""
        found: list[Node] = []
        for child in self.children:
            found.append(child)
            found.extend(child.descendants())
        return found

    def leaves(self) -> list[Node]:
        """This member when it is a leaf, else the leaves below it."""
        return [self] if self.is_leaf else [n for n in self.descendants() if n.is_leaf]

    def prop(self, key: str, default: str | None = None) -> str | None:
        """A property set here or inherited from the nearest ancestor that sets it."""
        for node in [self, *reversed(self.ancestors())]:
            if key in node.properties:
                return node.properties[key]
        return default

    def inherited_attributes(self) -> dict[str, str]:
        """User-defined attributes, nearest definition winning, in first-defined order."""
        merged: dict[str, str] = {}
        for node in [*self.ancestors(), self]:
            merged.update(node.attributes)
        return merged


def parse_outline(text: str) -> list[Node]:
    """All members of `text` in outline (pre-)order; the first one is the root."""
    nodes: list[Node] = []
    stack: list[Node] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue
        depth, remainder = divmod(len(raw) - len(raw.lstrip(" ")), INDENT)
        if remainder or depth > len(stack) or (depth == 0 and nodes):
            msg = f"outline line {number} is badly indented: {raw!r}"
            raise ValueError(msg)
        head, _, tail = raw.strip().partition("|")
        code, _, name = head.strip().partition(" ")
        node = Node(
            code=code, name=name.strip() or code, parent=stack[depth - 1] if depth else None
        )
        for pair in filter(None, (p.strip() for p in tail.split(";"))):
            key, _, value = pair.partition("=")
            target = node.attributes if key.startswith("@") else node.properties
            target[key.lstrip("@").strip()] = value.strip()
        if node.parent is not None:
            node.parent.children.append(node)
        del stack[depth:]
        stack.append(node)
        nodes.append(node)
    return nodes
