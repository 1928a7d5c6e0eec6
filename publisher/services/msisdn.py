"""Mobile numbers in one form: E.164, so that one phone is one subscriber and one target."""

from __future__ import annotations

import phonenumbers

from publisher.services.errors import InvalidInput

__all__ = ["DEFAULT_REGION", "normalise_msisdn"]

DEFAULT_REGION = "CN"
_PARSE_FAILURES = {
    phonenumbers.NumberParseException.INVALID_COUNTRY_CODE: "its country code is unknown",
    phonenumbers.NumberParseException.NOT_A_NUMBER: "it is not a phone number",
    phonenumbers.NumberParseException.TOO_SHORT_AFTER_IDD: "it is too short",
    phonenumbers.NumberParseException.TOO_SHORT_NSN: "it is too short",
    phonenumbers.NumberParseException.TOO_LONG: "it is too long",
}
_RECEIVES_SMS = (phonenumbers.PhoneNumberType.MOBILE,
                 phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE)


def normalise_msisdn(raw: str, region: str = DEFAULT_REGION, *, field: str = "msisdn") -> str:
    """``+86 138 0013 8000``, ``13800138000`` and ``008613800138000`` all give ``+8613800138000``.

    A number without a country code is read as a number of ``region``.
    Raises InvalidInput naming ``field`` when it is no valid mobile number.
    """
    try:
        number = phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException as error:
        why = _PARSE_FAILURES.get(error.error_type, "it is not a phone number")
        raise InvalidInput(f"{raw!r} is not a valid phone number: {why}", field=field) from None
    if not phonenumbers.is_valid_number(number):
        raise InvalidInput(f"{raw!r} is not a valid phone number", field=field)
    if phonenumbers.number_type(number) not in _RECEIVES_SMS:
        raise InvalidInput(f"{raw!r} is not a mobile number: it cannot receive SMS", field=field)
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
