"""Phone normalization: the everyday shapes, the reasons, and fast path = phonenumbers."""

import random

import pandas as pd
import pytest

from webapp.contacts import InvalidPhoneError, normalize_phone, normalize_phones
from webapp.contacts import phones as phones_module


@pytest.mark.parametrize(
    "raw",
    [
        "+7 (924) 355-51-00",
        "8 924 355 51 00",
        "9243555100",
        "8(924)3555100",
        "79243555100",
        "+79243555100",
        " 8-924-355-51-00 ",
        "8\u00a0924\u00a0355\u00a051\u00a000",
        "9243555100.0",  # a numeric cell saved to CSV
        "7.92435551E10",  # a float printed exactly
    ],
)
def test_everyday_russian_shapes(raw):
    assert normalize_phone(raw) == "79243555100"


def test_international_numbers_with_plus():
    assert normalize_phone("+44 7911 123456") == "447911123456"
    assert normalize_phone("+7 700 123 45 67") == "77001234567"  # Kazakhstan mobile
    assert normalize_phone("+49 1512 3456789") == "4915123456789"


def test_another_default_region():
    assert normalize_phone("01512 3456789", region="DE") == "4915123456789"
    with pytest.raises(InvalidPhoneError):
        normalize_phone("8 924 355 51 00", region="DE")


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("нет", "not a phone number"),
        ("123", "too short"),
        ("8924355510012345", "too long"),
        ("+8 924 355 51 00", "unknown country code"),
        ("89300000000", "not a valid number"),
        ("+7 495 123-45-67", "not a mobile number"),
        ("7.92436E+10", "digits lost in scientific notation (like 7.92436E+10)"),
    ],
)
def test_rejection_reasons(raw, reason):
    with pytest.raises(InvalidPhoneError) as caught:
        normalize_phone(raw)
    assert caught.value.reason == reason


def test_column_results_align_with_the_input_index():
    values = pd.Series(["89243555100", None, "x"], index=[10, 20, 30])
    phones, reasons = normalize_phones(values)
    assert phones.index.tolist() == [10, 20, 30]
    assert phones.tolist()[0] == "79243555100"
    assert reasons.tolist()[1:] == ["empty", "not a phone number"]
    assert pd.isna(reasons[10]) and pd.isna(phones[20])


def generated_shapes(count: int) -> list[str]:
    """Numbers people type: prefixes, groupings and separators, valid and not."""
    rng = random.Random(20261127)
    prefixes = ["", "+7", "7", "8", "+ 7", "(+7)", "+8", "007", "8 10 7", "+", "9", "77", "88"]
    groupings = [(3, 3, 2, 2), (3, 7), (10,), (3, 3, 4), (1, 2, 3, 4), (5, 5)]
    separators = [" ", "-", "", ".", "\u00a0", "\t", "--", " - "]

    def national() -> str:
        kind = rng.randrange(6)
        if kind == 0:
            return "495" + "".join(rng.choices("0123456789", k=7))  # Moscow landline
        if kind == 1:
            return "9300" + "".join(rng.choices("0123456789", k=6))  # unassigned mobile range
        length = {2: 9, 3: 11}.get(kind, 10)
        return "9" + "".join(rng.choices("0123456789", k=length - 1))

    shapes = []
    for _ in range(count):
        digits, prefix = national(), rng.choice(prefixes)
        separator, groups, parts = rng.choice(separators), rng.choice(groupings), []
        for size in groups:
            parts.append(digits[:size])
            digits = digits[size:]
        parts[-1] += digits
        if rng.random() < 0.3:
            parts[0] = f"({parts[0]})"
        shapes.append(prefix + rng.choice(["", " "]) + separator.join(parts))
    return shapes


def test_the_fast_path_gives_exactly_what_phonenumbers_gives(monkeypatch):
    shapes = generated_shapes(6000)
    reference = [phones_module.classify_phone(shape.strip(), "RU") for shape in shapes]

    slow_calls = []
    classify = phones_module.classify_phone
    monkeypatch.setattr(
        phones_module,
        "classify_phone",
        lambda text, region: slow_calls.append(text) or classify(text, region),
    )
    phones, reasons = normalize_phones(pd.Series(shapes))

    got = [
        (None if pd.isna(phone) else phone, None if pd.isna(reason) else reason)
        for phone, reason in zip(phones, reasons, strict=True)
    ]
    mismatches = [
        (shape, want, have)
        for shape, want, have in zip(shapes, reference, got, strict=True)
        if want != have
    ]
    assert mismatches == []
    # The comparison means something only if the fast path took a good share of the shapes.
    fast = set(shapes) - set(slow_calls)
    assert len(fast) > 1000
    assert len(set(slow_calls)) > 1000
