"""The GSM 7-bit default alphabet and its extension table (3GPP TS 23.038 §6.2.1).

Text is carried unpacked, one septet per octet, which is how SMPP 3.4 carries
the default alphabet in ``short_message`` with ``data_coding`` 0: the SMSC
packs the septets for the air interface. A character of the extension table
is the escape septet 0x1B followed by its code, so it costs two septets, and
the two travel together.
"""

from __future__ import annotations

from collections.abc import Mapping

__all__ = [
    "ESCAPE",
    "can_encode",
    "decode_septets",
    "encode_septets",
    "septets_of",
]

ESCAPE = 0x1B

# Position 0x1B is the escape to the extension table, not a character: the
# ESC stored there only keeps the table's positions right and is never
# produced from text when encoding.
_DEFAULT_ALPHABET = (
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ"
    " !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§"
    "¿abcdefghijklmnopqrstuvwxyzäöñüà"
)

_EXTENSION: Mapping[int, str] = {
    0x0A: "\f",
    0x14: "^",
    0x28: "{",
    0x29: "}",
    0x2F: "\\",
    0x3C: "[",
    0x3D: "~",
    0x3E: "]",
    0x40: "|",
    0x65: "€",
}

_SEPTETS: Mapping[str, bytes] = {
    **{char: bytes([code]) for code, char in enumerate(_DEFAULT_ALPHABET) if code != ESCAPE},
    **{char: bytes([ESCAPE, code]) for code, char in _EXTENSION.items()},
}


def can_encode(text: str) -> bool:
    """Whether every character of ``text`` is in the default alphabet or its extension."""
    return all(char in _SEPTETS for char in text)


def septets_of(char: str) -> bytes:
    """The one or two septets (escape first) that carry ``char``; KeyError when it has none."""
    return _SEPTETS[char]


def encode_septets(text: str) -> bytes:
    """``text`` as unpacked septets; KeyError names the first character outside the alphabet."""
    return b"".join(_SEPTETS[char] for char in text)


def decode_septets(septets: bytes) -> str:
    """Unpacked septets back to text.

    An escape before a code the extension table does not define shows the
    default-alphabet character instead, and an escape with nothing after it
    shows a space: TS 23.038 asks a receiver to do both, so a handset and we
    read the same text.
    """
    chars: list[str] = []
    escaped = False
    for offset, septet in enumerate(septets):
        if septet > 0x7F:
            raise ValueError(f"octet 0x{septet:02X} at offset {offset} is not a GSM 7-bit septet")
        if escaped:
            chars.append(_EXTENSION.get(septet, " " if septet == ESCAPE else
                                        _DEFAULT_ALPHABET[septet]))
            escaped = False
        elif septet == ESCAPE:
            escaped = True
        else:
            chars.append(_DEFAULT_ALPHABET[septet])
    if escaped:
        chars.append(" ")
    return "".join(chars)
