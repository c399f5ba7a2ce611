"""Phone numbers to the gateway's digits-only international format (79243555100).

``phonenumbers`` is the reference. It costs tens of microseconds a number, so the shapes most
Russian lists consist of (+7 / 7 / 8 / nothing, then a mobile number, with spaces, dashes or
brackets) are recognised column-wise first, with phonenumbers' own pattern for Russian mobile
numbers; everything else goes to phonenumbers once per distinct value. Both give the same
answer for every input: tests/contacts/test_phones.py compares them.
"""

from __future__ import annotations

import re
from decimal import Decimal

import numpy as np
import pandas as pd
import phonenumbers
import pyarrow as pa
import pyarrow.compute as pc
from phonenumbers import NumberParseException, PhoneNumberType, ValidationResult

from webapp.columns import replaced
from webapp.i18n import N_

from .errors import InvalidPhoneError

EMPTY = N_("empty")
NOT_A_NUMBER = N_("not a phone number")
TOO_SHORT = N_("too short")
TOO_LONG = N_("too long")
UNKNOWN_COUNTRY = N_("unknown country code")
NOT_VALID = N_("not a valid number")
NOT_MOBILE = N_("not a mobile number")
DIGITS_LOST = N_("digits lost in scientific notation (like 7.92436E+10)")

_MESSAGEABLE = (PhoneNumberType.MOBILE, PhoneNumberType.FIXED_LINE_OR_MOBILE)
_PARSE_REASONS = {
    NumberParseException.INVALID_COUNTRY_CODE: UNKNOWN_COUNTRY,
    NumberParseException.NOT_A_NUMBER: NOT_A_NUMBER,
    NumberParseException.TOO_SHORT_AFTER_IDD: TOO_SHORT,
    NumberParseException.TOO_SHORT_NSN: TOO_SHORT,
    NumberParseException.TOO_LONG: TOO_LONG,
}
_POSSIBILITY_REASONS = {
    ValidationResult.INVALID_COUNTRY_CODE: UNKNOWN_COUNTRY,
    ValidationResult.TOO_SHORT: TOO_SHORT,
    ValidationResult.TOO_LONG: TOO_LONG,
}

# Excel writes numeric cells into CSV as "9243555100.0" or in scientific notation.
_WHOLE_FLOAT = r"\d+\.0+"
_SCIENTIFIC = r"\d(?:\.\d+)?[eE]\+?\d{1,2}"
# Excel's General format shows at most six significant digits in scientific notation, so
# "7.92436E+10" has lost the number's tail; a program that prints a float exactly
# ("7.92435551E10") gives more. Fewer than this many digits is taken as lost.
_EXACT_SCIENTIFIC_DIGITS = 7
# Separators the fast path removes (phonenumbers ignores them too); rarer ones take the slow path.
_SEPARATORS = (" ", "-", "(", ")", ".")
_RU_MOBILE = phonenumbers.PhoneMetadata.metadata_for_region("RU").mobile.national_number_pattern
_FAST_RU_MOBILE = rf"(?:\+?7|8)?(?:{_RU_MOBILE})"


def normalize_phone(raw: str, region: str = "RU") -> str:
    """One number to gateway digits, or InvalidPhoneError with the reason."""
    phones, reasons = normalize_phones(pd.Series([raw], dtype="str"), region)
    if pd.isna(phones.iloc[0]):
        raise InvalidPhoneError(reasons.iloc[0])
    return phones.iloc[0]


def normalize_phones(values: pd.Series, region: str = "RU") -> tuple[pd.Series, pd.Series]:
    """Raw texts to (gateway digits or NA, rejection reason or NA), aligned with `values`."""
    text = _undo_excel_number_formats(_arrow(values.fillna("").astype("str")))
    empty = _numpy(pc.equal(text, ""))
    lost = _numpy(pc.is_null(text))
    fast = np.zeros(len(text), dtype=bool)
    phones = pa.nulls(len(text), pa.string())
    if region == "RU":
        compact = replaced(text, [(separator, "") for separator in _SEPARATORS])
        fast = _numpy(pc.match_substring_regex(compact, f"^(?:{_FAST_RU_MOBILE})$"))
        # Whatever stands before the ten national digits (+7, 7, 8 or nothing) becomes 7.
        phones = pc.if_else(fast, pc.utf8_replace_slice(compact, 0, -10, "7"), None)
    phones = pd.Series(pd.array(phones, dtype="str"), index=values.index)
    reasons = pd.Series(
        np.select([empty, lost], [EMPTY, DIGITS_LOST], None), index=values.index, dtype="str"
    )
    pending = ~(fast | empty | lost)
    if pending.any():
        slow = pd.Series(pd.array(text.filter(pending), dtype="str"))
        verdicts = {raw: classify_phone(raw, region) for raw in slow.unique()}
        phones[pending] = slow.map(lambda raw: verdicts[raw][0]).to_numpy()
        reasons[pending] = slow.map(lambda raw: verdicts[raw][1]).to_numpy()
    return phones, reasons


def classify_phone(text: str, region: str) -> tuple[str | None, str | None]:
    """(gateway digits, None) or (None, reason) by phonenumbers alone: the reference path."""
    try:
        number = phonenumbers.parse(text, region)
    except NumberParseException as error:
        return None, _PARSE_REASONS.get(error.error_type, NOT_A_NUMBER)
    possibility = phonenumbers.is_possible_number_with_reason(number)
    if possibility not in (ValidationResult.IS_POSSIBLE, ValidationResult.IS_POSSIBLE_LOCAL_ONLY):
        return None, _POSSIBILITY_REASONS.get(possibility, NOT_VALID)
    if not phonenumbers.is_valid_number(number):
        return None, NOT_VALID
    if phonenumbers.number_type(number) not in _MESSAGEABLE:
        return None, NOT_MOBILE
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)[1:], None


def _arrow(text: pd.Series) -> pa.ChunkedArray:
    """Whole-column string work goes through pyarrow.compute: pandas' regex accessors on the
    same Arrow data are up to ten times slower."""
    return pc.utf8_trim_whitespace(pa.chunked_array(pa.array(text.array)))


def _numpy(mask: pa.ChunkedArray) -> np.ndarray:
    return mask.fill_null(False).to_numpy()


def _undo_excel_number_formats(text: pa.ChunkedArray) -> pa.ChunkedArray:
    """'9243555100.0' → '9243555100', '7.92435551E10' → '79243555100'; null where digits were
    lost. Only the few values with a dot or an exponent are looked at, one by one."""
    suspects = _numpy(pc.match_substring_regex(text, "[.eE]"))
    if not suspects.any():
        return text
    repaired = pd.Series(pd.array(text, dtype="str"))
    repaired[suspects] = repaired[suspects].map(_undo_excel_number_format).to_numpy()
    return _arrow(repaired)


def _undo_excel_number_format(text: str) -> str | None:
    if re.fullmatch(_WHOLE_FLOAT, text):
        return text.partition(".")[0]
    if not re.fullmatch(_SCIENTIFIC, text):
        return text
    number = Decimal(text)
    if len(number.as_tuple().digits) < _EXACT_SCIENTIFIC_DIGITS:
        return None
    return str(int(number)) if number == number.to_integral_value() else None


_HEADER_STRONG = re.compile(
    r"телефон|\bтел\b|phone|mobile|\bмоб|\bсотов|whats\s*app|ватсап|вотсап|msisdn", re.IGNORECASE
)
_HEADER_WEAK = re.compile(r"номер|number|\bcell\b|контакт", re.IGNORECASE)
DETECTION_SAMPLE = 100
_MOSTLY = 0.5
# No number a phone can be normalised from has fewer digits; cheaper than phonenumbers on text.
_MIN_PHONE_DIGITS = 7


def detect_phone_column(cells: pd.DataFrame, region: str = "RU") -> str | None:
    """The column most likely to hold the phones: mostly phones first, then a phone-like name."""

    def header_rank(name: str) -> int:
        return 2 if _HEADER_STRONG.search(name) else 1 if _HEADER_WEAK.search(name) else 0

    def phone_share(column: pd.Series) -> float:
        sample = column[column != ""].head(DETECTION_SAMPLE)
        if sample.empty:
            return 0.0
        candidates = sample[sample.str.count(r"\d") >= _MIN_PHONE_DIGITS]
        phones, _ = normalize_phones(candidates, region)
        return phones.notna().sum() / len(sample)

    def score(name: str) -> tuple[bool, int, float]:
        share = phone_share(cells[name])
        return share >= _MOSTLY, header_rank(name), share

    if cells.columns.empty:
        return None
    scores = {name: score(name) for name in cells.columns}
    best = max(scores, key=scores.__getitem__)
    mostly_phones, rank, _ = scores[best]
    return best if mostly_phones or rank else None
