"""The jinja2 templates of the channels that send plain text: SMS, boards, WeChat cards.

Their output is shown as it is (on a handset, a board, in the WeChat
client), so nothing is HTML-escaped: escaping would put "&amp;" in front of
the public. A template per channel and language, ``<channel>.<language>.j2``.
"""

from __future__ import annotations

import functools
from pathlib import Path

import jinja2

__all__ = ["TEMPLATES_DIR", "plain_environment", "template_for"]

TEMPLATES_DIR = Path(__file__).resolve().parent.parent / "templates"


@functools.cache
def plain_environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES_DIR), autoescape=False,  # noqa: S701
        undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)


def _primary(language: str) -> str:
    return language.split("-", 1)[0].casefold()


@functools.cache
def template_for(channel: str, language: str, fallback: str) -> jinja2.Template:
    """``channel``'s template in ``language``, else in its primary language, else ``fallback``."""
    prefix = f"{channel}."
    by_language = {name.removeprefix(prefix).removesuffix(".j2").casefold(): name
                   for name in plain_environment().list_templates(
                       filter_func=lambda name: name.startswith(prefix))}
    name = by_language.get(language.casefold()) or next(
        (name for candidate, name in by_language.items()
         if _primary(candidate) == _primary(language)),
        by_language[fallback.casefold()])
    return plain_environment().get_template(name)
