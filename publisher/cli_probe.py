"""``publisher probe URL``: exit 0 when the URL answers 2xx, 1 otherwise.

A container's health check: the image carries no curl, and this asks the
same question with the interpreter that is already there (``GET /health``
of the web app, a district node's sign-in page).
"""

from __future__ import annotations

import argparse
import sys
import urllib.error
import urllib.request
from typing import Any
from urllib.parse import urlsplit

from publisher.cli_errors import EXIT_INVALID, EXIT_OK, UsageError

__all__ = ["add_probe_command"]

DEFAULT_TIMEOUT_SECONDS = 5.0


def _url(text: str) -> str:
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise UsageError(f"URL: {text!r} is not an http:// or https:// URL with a host")
    return text


def _probe(arguments: argparse.Namespace) -> int:
    url = _url(arguments.url)
    if arguments.timeout <= 0:
        raise UsageError(f"--timeout: {arguments.timeout:g} is not a positive number of seconds")
    try:
        # The scheme is checked above: only http and https reach urlopen.
        with urllib.request.urlopen(url, timeout=arguments.timeout) as response:  # noqa: S310
            status = response.status
    except urllib.error.HTTPError as error:
        print(f"publisher: {url}: HTTP {error.code} {error.reason}", file=sys.stderr)
        return EXIT_INVALID
    except (urllib.error.URLError, OSError) as error:
        reason = getattr(error, "reason", error)
        print(f"publisher: {url}: {reason}", file=sys.stderr)
        return EXIT_INVALID
    print(f"{url}: HTTP {status}")
    return EXIT_OK


def add_probe_command(commands: Any) -> None:
    probe = commands.add_parser(
        "probe", help="exit 0 when a URL answers 2xx (a container's health check)")
    probe.add_argument("url", metavar="URL", help="e.g. http://127.0.0.1:8080/health")
    probe.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT_SECONDS, metavar="S",
                       help=f"seconds to wait for the answer (default {DEFAULT_TIMEOUT_SECONDS:g})")
    probe.set_defaults(handler=_probe)
