"""Request bodies: size limit, JSON objects with the position of a syntax error, CAP XML."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from publisher.services.errors import InvalidInput

__all__ = ["CAP_MEDIA_TYPES", "JSON_MEDIA_TYPE", "MAX_BODY_BYTES", "read_json_object"]

MAX_BODY_BYTES = 1024 * 1024
JSON_MEDIA_TYPE = "application/json"
CAP_MEDIA_TYPES = frozenset({"application/cap+xml", "application/xml", "text/xml"})
_JSON_TYPES = {list: "an array", str: "a string", int: "a number", float: "a number",
               bool: "a boolean", type(None): "null"}


async def read_json_object(request: web.Request, *, empty_ok: bool = False) -> dict[str, Any]:
    """The body as a JSON object; an empty body is ``{}`` where ``empty_ok``.

    Reading beyond ``MAX_BODY_BYTES`` raises aiohttp's 413, which the error
    middleware turns into JSON.
    """
    data = await request.read()
    if not data.strip() and empty_ok:
        return {}
    try:
        # RFC 8259: JSON between systems is UTF-8, whatever a byte-order mark suggests.
        document = json.loads(data.decode("utf-8"))
    except UnicodeDecodeError as error:
        raise InvalidInput(f"not UTF-8 at byte {error.start}", field="body") from None
    except json.JSONDecodeError as error:
        raise InvalidInput(
            f"malformed JSON at line {error.lineno} column {error.colno} "
            f"(character {error.pos}): {error.msg}",
            field="body",
        ) from None
    if not isinstance(document, dict):
        raise InvalidInput(f"expected a JSON object, got {_JSON_TYPES[type(document)]}",
                           field="body")
    return document
