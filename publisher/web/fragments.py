"""The jinja2 environment of the HTML fragments that staff pages include (previews, the map).

A fragment is rendered to ``Markup``: the page that includes it places it
as it is, and everything the fragment itself shows was escaped once, here.
"""

from __future__ import annotations

import functools
from typing import Any

import jinja2
from markupsafe import Markup

from publisher.channels.plain_templates import TEMPLATES_DIR

__all__ = ["render_fragment"]


@functools.cache
def _environment() -> jinja2.Environment:
    return jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES_DIR), autoescape=True,
                              undefined=jinja2.StrictUndefined, trim_blocks=True,
                              lstrip_blocks=True)


def render_fragment(template: str, **context: Any) -> Markup:
    """``template`` (a path under the templates directory) rendered with ``context``."""
    return Markup(_environment().get_template(template).render(**context))  # noqa: S704
