"""docs/api.md is executed: `publisher demo --prepare-only`, then `publisher serve`, then
every shell block of the document in order, each output held against the documented one.

The acceptance of the platform's first slice: an alert created, submitted,
approved by the second user and seen delivered on the memory channel,
through the REST API alone, following the document.
"""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pytest

from publisher.channels.memory import MemorySink
from publisher.cli_settings import MEMORY_SINK_FILE
from publisher.config import load_settings
from publisher.web.app import create_app
from tests.e2e.api_doc import API_DOC, Step, differences, read_steps
from tests.e2e.serve_support import (
    Installation,
    command_environment,
    demo_tokens,
    free_port,
    serving,
)

POLL_SECONDS = 30.0
# A step that polls is a curl of a few milliseconds: asking again soon costs little, and
# every step after it waits on the answer.
POLL_INTERVAL_SECONDS = 0.1
# The installation the document describes: the memory channel and the feed, a test
# target as in config/demo.toml (the document's alerts are Exercises), the district
# channel with the token it presents to the nodes, and the WeChat callback token of
# config/demo.toml, with which its callback examples sign.
DOCUMENT_CONFIGURATION = """\
channels = ["memory", "feed", "district"]

[channel_options.feed]
test_target = true

[channel_options.district]
center_token = "the-center-token-the-nodes-expect"

[channel_options.wechat]
callback_token = "demo-callback-token"
"""


def _run(step: Step, environment: dict[str, str], cwd: Path) -> str:
    done = subprocess.run(["bash", "-e", "-o", "pipefail", "-c", step.command], cwd=cwd,
                          env=environment, capture_output=True, text=True, timeout=60,
                          check=False)
    assert done.returncode == 0, f"docs/api.md line {step.line}: {done.stderr}"
    return done.stdout


def _problems(step: Step, output: str) -> list[str]:
    if step.language == "json":
        return differences(json.loads(step.expected or "null"), json.loads(output))
    expected = (step.expected or "").strip()
    return [] if output.strip() == expected else [f"{output.strip()!r}, documented {expected!r}"]


def _check(step: Step, environment: dict[str, str], cwd: Path) -> str:
    deadline = time.monotonic() + (POLL_SECONDS if step.poll else 0)
    while True:
        output = _run(step, environment, cwd)
        problems = _problems(step, output) if step.expected is not None else []
        if not problems:
            return output
        if time.monotonic() > deadline:
            raise AssertionError(f"docs/api.md line {step.line}:\n  " + "\n  ".join(problems))
        time.sleep(POLL_INTERVAL_SECONDS)


def test_every_documented_request_gives_the_documented_answer(tmp_path: Path) -> None:
    configuration = tmp_path / "publisher.toml"
    configuration.write_text(DOCUMENT_CONFIGURATION, encoding="utf-8")
    # The reader's directory: the data directory is ./var, as with `make demo`.
    installation = Installation(tmp_path / "var", free_port(), configuration)
    environment = command_environment() | demo_tokens(installation)
    steps = read_steps(API_DOC.read_text(encoding="utf-8"))
    assert len(steps) > 10
    with serving(installation, tmp_path / "serve.log"):
        for step in steps:
            output = _check(step, environment, tmp_path)
            for name, key in step.keep.items():
                environment[name] = str(json.loads(output)[key])

    # What the memory channel was handed: the Exercise reached the two test
    # targets in Chaoyang, and nothing else (the public target, Haidian).
    sink = MemorySink(installation.data_dir / MEMORY_SINK_FILE)
    try:
        handed = sink.entries()
        assert sink.repeats() == 0
    finally:
        sink.close()
    first_message = min(entry.message_id for entry in handed)
    assert sorted(entry.address for entry in handed if entry.message_id == first_message) == \
        ["demo:chaoyang:test-1", "demo:chaoyang:test-2"]
    # Every later message (the Update, the Cancel, the bilingual Exercise) goes the same
    # way, never to a public target.
    assert {entry.address for entry in handed} == {"demo:chaoyang:test-1", "demo:chaoyang:test-2"}


def _documented_routes(text: str) -> set[str]:
    """The "METHOD /path" of every ### `METHOD /path` heading."""
    return {line.removeprefix("### ").strip("` ") for line in text.splitlines()
            if line.startswith("### `")}


@pytest.mark.parametrize("route", sorted(
    f"{route.method} {route.resource.canonical.replace('{alert_id}', '{id}')}"
    for route in create_app(load_settings({})).router.routes()
    if route.method != "HEAD" and route.resource is not None
    # The staff pages are HTML for people, described in docs/ui.md.
    and not route.resource.canonical.startswith("/staff/")
))
def test_every_route_has_a_section(route: str) -> None:
    assert route in _documented_routes(API_DOC.read_text(encoding="utf-8"))
