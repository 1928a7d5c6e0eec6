"""Change one field deep inside JSON data, named by a path like ``info/0/area/0/areaDesc``."""

from __future__ import annotations

import copy
from typing import Any

REMOVE = object()


def edited(data: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    """A copy of ``data`` with the field at ``path`` set to ``value``, or removed for REMOVE."""
    changed = copy.deepcopy(data)
    *parents, last = (int(part) if part.isdigit() else part for part in path.split("/"))
    node: Any = changed
    for part in parents:
        node = node[part]
    if value is REMOVE:
        del node[last]
    else:
        node[last] = value
    return changed
