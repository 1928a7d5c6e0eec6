"""docs/api.md read as a script: its shell blocks, the output each one documents, directives.

A step is a ```sh block, the HTML comments after it (``<!-- then: VAR = key -->``
keeps a value of the response for later steps, ``<!-- poll -->`` repeats the
step until the output matches, as a reader would while a fan-out finishes),
and the ```json or ```text block after those: the documented output.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["Step", "differences", "read_steps"]

API_DOC = Path(__file__).resolve().parents[2] / "docs" / "api.md"
_FENCE = re.compile(r"^```(\w*)\s*$")
_DIRECTIVE = re.compile(r"^<!--\s*(.*?)\s*-->\s*$")
# Values that differ from run to run: times, identifiers made of the time,
# digests, durations, new tokens, and the health details that name local paths. Their
# type is checked, not their value.
_VARIABLE_KEYS = re.compile(
    r"(_at|^sent|^expires|^effective|^onset|identifier|^sha256|^references|^p\d+|^detail"
    r"|^seconds|^audio_url|^token|^credential)$")


@dataclass
class Step:
    command: str
    line: int
    language: str = ""
    expected: str | None = None
    keep: dict[str, str] = field(default_factory=dict)
    poll: bool = False


def _blocks(text: str) -> list[tuple[str, str, int]]:
    """(language or "<!--", content, line) in document order."""
    found: list[tuple[str, str, int]] = []
    lines = text.splitlines()
    index = 0
    while index < len(lines):
        fence = _FENCE.match(lines[index])
        directive = _DIRECTIVE.match(lines[index])
        if fence:
            end = index + 1
            while not lines[end].startswith("```"):
                end += 1
            found.append((fence.group(1), "\n".join(lines[index + 1:end]), index + 1))
            index = end
        elif directive:
            found.append(("<!--", directive.group(1), index + 1))
        index += 1
    return found


def read_steps(text: str, section: str | None = None) -> list[Step]:
    if section is not None:
        start = text.index(section)
        following = text.find("\n## ", start + len(section))
        text = text[start:following if following != -1 else len(text)]
    steps: list[Step] = []
    for language, content, line in _blocks(text):
        if language == "sh":
            steps.append(Step(content, line))
        elif not steps:
            continue
        elif language == "<!--":
            if content == "poll":
                steps[-1].poll = True
            elif content.startswith("then:"):
                name, _, key = content.removeprefix("then:").partition("=")
                steps[-1].keep[name.strip()] = key.strip()
        elif steps[-1].expected is None:
            steps[-1].language, steps[-1].expected = language, content
    return steps


def differences(expected: Any, actual: Any, where: str = "") -> list[str]:
    """How ``actual`` departs from the documented ``expected``; empty when it matches."""
    key = where.rsplit(".", 1)[-1]
    if isinstance(expected, dict) and isinstance(actual, dict):
        found = [f"{where}: missing {name!r}" for name in expected if name not in actual]
        found += [f"{where}: undocumented {name!r}" for name in actual if name not in expected]
        for name in expected.keys() & actual.keys():
            found += differences(expected[name], actual[name], f"{where}.{name}")
        return found
    if isinstance(expected, list) and isinstance(actual, list):
        if len(expected) != len(actual):
            return [f"{where}: {len(actual)} items, documented {len(expected)}"]
        return [problem for index, (one, other) in enumerate(zip(expected, actual, strict=True))
                for problem in differences(one, other, f"{where}[{index}]")]
    if _VARIABLE_KEYS.search(key):
        return [] if type(expected) is type(actual) else \
            [f"{where}: {type(actual).__name__}, documented {type(expected).__name__}"]
    return [] if expected == actual else [f"{where}: {actual!r}, documented {expected!r}"]
