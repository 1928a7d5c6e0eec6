"""The REST API fuzzed from its own OpenAPI description with schemathesis, on `publisher serve`.

As the demo administrator (so authenticated operations get past the token),
a bounded number of generated requests per operation, valid and invalid:
no answer is a 500, and every answer, errors included, conforms to the
documented schema and media type. The server-sent event streams are left
out: they answer a valid request by staying open. ``PUBLISHER_FUZZ_SEED``
changes the fixed seed to explore other inputs.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from tests.e2e.serve_support import BIN, Installation, demo_tokens, free_port, serving

EXAMPLES_PER_OPERATION = "5"
CHECKS = "not_a_server_error,response_schema_conformance,content_type_conformance"
STREAMS = r"(/dashboard/events|/api/stream)$"
RUN_SECONDS = 600


def test_no_generated_request_breaks_the_api_or_its_documented_shapes(tmp_path: Path) -> None:
    installation = Installation(tmp_path / "var", free_port())
    admin_token = demo_tokens(installation)["ADMIN_TOKEN"]
    with serving(installation, tmp_path / "serve.log"):
        done = subprocess.run(
            [str(BIN / "st"), "run", f"{installation.url}/api/openapi.json",
             "--header", f"Authorization: Bearer {admin_token}",
             "--checks", CHECKS, "--exclude-path-regex", STREAMS,
             "--phases", "fuzzing", "--max-examples", EXAMPLES_PER_OPERATION,
             # A busy machine makes generation slow; that is no fault of the API.
             "--suppress-health-check", "all",
             "--seed", os.environ.get("PUBLISHER_FUZZ_SEED", "20261129"),
             "--request-timeout", "30", "--no-color"],
            cwd=tmp_path, capture_output=True, text=True, timeout=RUN_SECONDS,
            env=installation.environment(), check=False)
    assert done.returncode == 0, done.stdout[-20000:] + done.stderr[-5000:]
    assert " passed" in done.stdout, done.stdout[-5000:]
