"""SMS alphabet choice, segmenting, concatenation headers and decoding, octet by octet."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from publisher.channels import gsm7
from publisher.channels.sms_encoding import (
    CONCATENATED_PART_SEPTETS,
    CONCATENATED_PART_UCS2_UNITS,
    Concatenation,
    EncodedSms,
    ReferenceAllocator,
    SmsEncodingError,
    count_parts,
    decode_short_message,
    encode_sms,
    measure_sms,
    split_user_data,
)

SIGNATURE = "【北京市预警信息发布中心】"
EXTENSION_CHARS = "€[]{}~^\\|\f"
EMOJI = "😀"  # U+1F600: a surrogate pair, two UCS-2 code units
HEADER_OCTETS = 7


def reassemble(encoded: EncodedSms) -> str:
    """What a handset shows: the parts in order of their headers, each decoded."""
    texts: dict[int, str] = {}
    for part in encoded.parts:
        concatenation, _ = split_user_data(encoded.esm_class, part)
        sequence = 1 if concatenation is None else concatenation.sequence
        texts[sequence] = decode_short_message(encoded.data_coding, encoded.esm_class, part)
    return "".join(texts[sequence] for sequence in sorted(texts))


def test_capacities_follow_from_the_seven_octet_header() -> None:
    assert CONCATENATED_PART_SEPTETS == 152
    assert CONCATENATED_PART_UCS2_UNITS == 66


@pytest.mark.parametrize(("text", "encoding", "data_coding"), [
    ("Heavy rain @ 5pm", "gsm7", 0x00),
    ("Price € 5 [a] {b} ~c^ \\d|", "gsm7", 0x00),
    ("ÇÉÑÜß ΔΦΓΛΩΠΨΣΘΞ", "gsm7", 0x00),
    ("ç", "ucs2", 0x08),       # only the capital C cedilla is in the alphabet
    ("`", "ucs2", 0x08),
    ("北京暴雨", "ucs2", 0x08),
    ("Rain 北京", "ucs2", 0x08),
    (f"Rain {EMOJI}", "ucs2", 0x08),
])
def test_alphabet_is_gsm_only_when_every_character_is(text: str, encoding: str,
                                                       data_coding: int) -> None:
    encoded = encode_sms(text, 1)
    assert (encoded.encoding, encoded.data_coding) == (encoding, data_coding)


@pytest.mark.parametrize(("text", "units", "parts"), [
    ("a" * 160, 160, 1),
    ("a" * 161, 161, 2),
    ("a" * 304, 304, 2),
    ("a" * 305, 305, 3),
    ("€" * 80, 160, 1),
    ("€" * 81, 162, 2),
    ("a" * 159 + "€", 161, 2),
    ("中" * 70, 70, 1),
    ("中" * 71, 71, 2),
    ("中" * 132, 132, 2),
    ("中" * 133, 133, 3),
    (EMOJI * 35, 70, 1),
    (EMOJI * 36, 72, 2),
    ("中" * 69 + EMOJI, 71, 2),
    (SIGNATURE, 13, 1),
    (SIGNATURE + "中" * 57, 70, 1),
    (SIGNATURE + "中" * 58, 71, 2),
    (SIGNATURE + "Heavy rain", 23, 1),
])
def test_length_and_part_count(text: str, units: int, parts: int) -> None:
    measure = measure_sms(text)
    assert (measure.units, measure.part_count) == (units, parts)
    assert count_parts(text) == parts
    encoded = encode_sms(text, 7)
    assert encoded.part_count == encoded.segment_count == parts


@pytest.mark.parametrize("char", EXTENSION_CHARS)
def test_extension_character_costs_two_septets(char: str) -> None:
    assert gsm7.septets_of(char)[0] == gsm7.ESCAPE
    assert measure_sms(char).units == 2
    assert encode_sms(char, 0).parts == (gsm7.septets_of(char),)


@pytest.mark.parametrize("char", EXTENSION_CHARS)
def test_escape_pair_that_would_straddle_a_boundary_moves_whole(char: str) -> None:
    text = "a" * (CONCATENATED_PART_SEPTETS - 1) + char + "b" * 20
    first, second = encode_sms(text, 0).parts
    assert first[HEADER_OCTETS:] == b"a" * (CONCATENATED_PART_SEPTETS - 1)
    assert second[HEADER_OCTETS:] == gsm7.septets_of(char) + b"b" * 20


def test_escape_pair_that_fits_exactly_stays_in_the_first_part() -> None:
    text = "a" * (CONCATENATED_PART_SEPTETS - 2) + "€" + "b" * 10
    first, second = encode_sms(text, 0).parts
    assert first[HEADER_OCTETS:] == b"a" * (CONCATENATED_PART_SEPTETS - 2) + b"\x1b\x65"
    assert second[HEADER_OCTETS:] == b"b" * 10


def test_emoji_at_a_part_boundary_moves_whole_to_the_next_part() -> None:
    text = "中" * (CONCATENATED_PART_UCS2_UNITS - 1) + EMOJI + "中" * 10
    first, second = encode_sms(text, 0).parts
    assert first[HEADER_OCTETS:] == ("中" * (CONCATENATED_PART_UCS2_UNITS - 1)).encode("utf-16-be")
    assert second[HEADER_OCTETS:] == (EMOJI + "中" * 10).encode("utf-16-be")
    assert decode_short_message(0x08, 0x40, second).startswith(EMOJI)


def test_concatenation_header_octets() -> None:
    encoded = encode_sms("a" * 400, 0x1234)
    assert (encoded.esm_class, encoded.data_coding, encoded.reference) == (0x40, 0x00, 0x1234)
    assert [part[:HEADER_OCTETS] for part in encoded.parts] == [
        bytes([0x06, 0x08, 0x04, 0x12, 0x34, 3, sequence]) for sequence in (1, 2, 3)]
    assert [len(part) - HEADER_OCTETS for part in encoded.parts] == [152, 152, 96]


def test_ucs2_parts_fit_the_140_octet_user_data() -> None:
    encoded = encode_sms("中" * 200, 0xFFFF)
    assert encoded.parts[0][:HEADER_OCTETS] == bytes([6, 8, 4, 0xFF, 0xFF, 4, 1])
    assert [len(part) for part in encoded.parts] == [139, 139, 139, 7 + 2 * 2]


def test_single_part_has_no_header() -> None:
    encoded = encode_sms(SIGNATURE + "暴雨红色预警", 99)
    assert (encoded.esm_class, encoded.reference) == (0x00, None)
    assert encoded.parts == ((SIGNATURE + "暴雨红色预警").encode("utf-16-be"),)


def test_message_payload_carries_the_whole_text_without_header() -> None:
    text = "中" * 100
    encoded = encode_sms(text, 5, use_message_payload=True)
    assert encoded.uses_message_payload
    assert (encoded.part_count, encoded.segment_count, encoded.esm_class) == (1, 2, 0x00)
    assert encoded.parts == (text.encode("utf-16-be"),)


def test_reference_allocator_wraps_at_65536() -> None:
    allocator = ReferenceAllocator(start=65534)
    assert [allocator.allocate() for _ in range(4)] == [65534, 65535, 0, 1]


def test_reference_allocator_default_start_is_in_range() -> None:
    assert 0 <= ReferenceAllocator().allocate() <= 65535


@pytest.mark.parametrize(("call", "field"), [
    (lambda: encode_sms("hi", 65536), "reference"),
    (lambda: encode_sms("hi", -1), "reference"),
    (lambda: ReferenceAllocator(start=70000), "reference"),
    (lambda: encode_sms("", 0), "text"),
    (lambda: encode_sms("a\ud800b", 0), "text"),
    (lambda: encode_sms("中" * (255 * 66 + 1), 0), "text"),
    (lambda: decode_short_message(0x04, 0, b"\x01"), "data_coding"),
    (lambda: decode_short_message(0x08, 0, b"\x4e"), "short_message"),
    (lambda: decode_short_message(0x00, 0, b"a\x80"), "short_message"),
    (lambda: decode_short_message(0x01, 0, b"\xe9"), "short_message"),
    (lambda: decode_short_message(0x00, 0x40, b""), "udh"),
    (lambda: decode_short_message(0x00, 0x40, b"\x09\x00\x03\x01"), "udh"),
    (lambda: decode_short_message(0x00, 0x40, b"\x03\x00\x05\x01hi"), "udh"),
    (lambda: decode_short_message(0x00, 0x40, b"\x04\x08\x02\x01\x02hi"), "udh"),
])
def test_errors_name_the_field(call: object, field: str) -> None:
    with pytest.raises(SmsEncodingError) as raised:
        call()  # type: ignore[operator]
    assert raised.value.field == field


def test_the_most_parts_a_header_can_number_is_accepted() -> None:
    assert encode_sms("中" * (255 * 66), 0).part_count == 255


@pytest.mark.parametrize(("data_coding", "esm_class", "payload", "text"), [
    (0x00, 0x00, b"\x1b\x65 5", "€ 5"),
    (0x00, 0x00, b"\x00\x01\x11\x1b\x1b", "@£_ "),      # escape-escape shows a space
    (0x00, 0x00, b"\x1b\x41", "A"),                     # undefined extension: the default char
    (0x00, 0x00, b"abc\x1b", "abc "),                   # trailing escape shows a space
    (0x01, 0x00, b"TD", "TD"),
    (0x03, 0x00, "été".encode("latin-1"), "été"),
    (0x08, 0x00, "DY 朝阳".encode("utf-16-be"), "DY 朝阳"),
    (0x08, 0x00, EMOJI.encode("utf-16-be"), EMOJI),
    (0x00, 0x40, bytes([5, 0x00, 3, 0xAB, 2, 1]) + b"hi", "hi"),
    (0x08, 0x40, bytes([6, 0x08, 4, 1, 2, 2, 2]) + "退订".encode("utf-16-be"), "退订"),
    (0x00, 0x40, bytes([8, 0x24, 1, 1, 0x00, 3, 9, 2, 1]) + b"ok", "ok"),  # other IE first
])
def test_decode_short_message(data_coding: int, esm_class: int, payload: bytes,
                              text: str) -> None:
    assert decode_short_message(data_coding, esm_class, payload) == text


@pytest.mark.parametrize(("payload", "concatenation"), [
    (bytes([5, 0x00, 3, 0xAB, 2, 1]) + b"hi", Concatenation(0xAB, 2, 1)),
    (bytes([6, 0x08, 4, 0x12, 0x34, 3, 2]) + b"hi", Concatenation(0x1234, 3, 2)),
    (bytes([3, 0x24, 1, 1]) + b"hi", None),
])
def test_split_user_data_reads_the_concatenation(payload: bytes,
                                                 concatenation: Concatenation | None) -> None:
    assert split_user_data(0x40, payload) == (concatenation, b"hi")


gsm_text = st.text(alphabet=st.sampled_from(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./09:;<=>?¡AZÄÖÑÜ§¿azäöñüà" + EXTENSION_CHARS),
    min_size=1, max_size=700)
chinese_text = st.text(alphabet=st.characters(min_codepoint=0x4E00, max_codepoint=0x9FFF),
                       min_size=1, max_size=400)
emoji_text = st.text(alphabet=st.characters(min_codepoint=0x1F300, max_codepoint=0x1FAFF),
                     min_size=1, max_size=200)
mixed_text = st.text(alphabet=st.one_of(
    st.sampled_from("abc €[]" + SIGNATURE),
    st.characters(min_codepoint=0x4E00, max_codepoint=0x9FFF),
    st.characters(min_codepoint=0x1F300, max_codepoint=0x1FAFF),
    st.characters(codec="utf-8")), min_size=1, max_size=500)  # UTF-8: no lone surrogates
any_text = st.one_of(gsm_text, chinese_text, emoji_text, mixed_text)


@settings(max_examples=150, deadline=None)
@given(text=any_text, reference=st.integers(0, 65535))
def test_round_trip(text: str, reference: int) -> None:
    encoded = encode_sms(text, reference)
    assert reassemble(encoded) == text
    payload = encode_sms(text, reference, use_message_payload=True)
    assert decode_short_message(payload.data_coding, payload.esm_class, payload.parts[0]) == text


@settings(max_examples=150, deadline=None)
@given(text=any_text, reference=st.integers(0, 65535))
def test_parts_are_full_numbered_and_keep_pairs_whole(text: str, reference: int) -> None:
    encoded = encode_sms(text, reference)
    if encoded.part_count == 1:
        return
    capacity = (CONCATENATED_PART_SEPTETS if encoded.encoding == "gsm7"
                else 2 * CONCATENATED_PART_UCS2_UNITS)
    bodies = []
    for sequence, part in enumerate(encoded.parts, start=1):
        concatenation, body = split_user_data(encoded.esm_class, part)
        assert concatenation == Concatenation(reference, encoded.part_count, sequence)
        assert len(body) <= capacity
        # each part decodes alone to what re-encodes to it: no escape or surrogate pair was cut
        assert encode_text(decode_short_message(encoded.data_coding, 0, body),
                           encoded.encoding) == body
        bodies.append(body)
    # every part but the last is as full as whole characters allow
    for body, following in itertools.pairwise(bodies):
        first_char = decode_short_message(encoded.data_coding, 0, following)[0]
        assert len(body) + len(encode_text(first_char, encoded.encoding)) > capacity


def encode_text(text: str, encoding: str) -> bytes:
    return gsm7.encode_septets(text) if encoding == "gsm7" else text.encode("utf-16-be")


@pytest.mark.parametrize("text", ["暴" * 200, "Rain " * 80, "short", "🌧" * 70])
def test_a_text_under_another_reference_is_that_text_encoded_with_it(text: str) -> None:
    once = encode_sms(text, 1)
    for reference in (2, 0x1234, 0xFFFF):
        assert once.with_reference(reference) == encode_sms(text, reference)
