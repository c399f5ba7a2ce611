"""Values shown as a Russian spreadsheet shows them, and stored text read back for templates."""

from datetime import date, datetime, time, timedelta
from decimal import Decimal

import pytest

from webapp.formats import (
    BUILTIN_FORMATS,
    CellFormat,
    PatternError,
    cell_text,
    parse_moment,
    parse_number,
    template_format,
)

VISIT = datetime(2026, 12, 5, 9, 30)
VISIT_SERIAL = 46361.395833333336  # what a workbook stores for 05.12.2026 09:30


def shown(value, code: str) -> str:
    return cell_text(value, CellFormat.compile(code))


@pytest.mark.parametrize(
    ("value", "code", "text"),
    [
        (1500.5, "#,##0.00", "1 500,50"),
        (1234567.891, "#,##0.00", "1 234 567,89"),
        (1500, "#,##0", "1 500"),
        (999, "#,##0", "999"),
        (12.3456, "0.00", "12,35"),
        (2.675, "0.00", "2,68"),  # Excel rounds the decimal digits, not the binary float
        (0.5, "0.0", "0,5"),
        (5, "000", "005"),
        (0.15, "0%", "15%"),
        (0.155, "0.0%", "15,5%"),
        (1, "0%", "100%"),
        (-1500.5, "#,##0.00", "-1 500,50"),
        (-0.001, "0.00", "0,00"),  # no "-0,00"
        (1500.5, '#,##0.00 "₽"', "1 500,50 ₽"),
        (1500.5, "#,##0.00\\ [$₽-419]", "1 500,50 ₽"),
        (5, '0" шт."', "5 шт."),
        (1234567, '#,##0,," млн"', "1 млн"),
        (1234, "0.0,", "1,2"),
        (0.5, "0.##", "0,5"),
        (2, "0.##", "2,"),
        (12345.678, "0.00E+00", "1,23E+04"),
        (0.00012, "0.00E+00", "1,20E-04"),
        (12345, "##0.0E+0", "12,3E+3"),
        (1.25, "# ?/?", "1 1/4"),
        (0.3333, "?/?", "1/3"),
        (2.5, "# ?/4", "2 2/4"),
        (5.5, '"Итого: "General', "Итого: 5,5"),
    ],
)
def test_numbers_through_their_format_in_russian_conventions(value, code, text):
    assert shown(value, code) == text


@pytest.mark.parametrize(
    ("value", "code", "text"),
    [
        (-1500.5, "#,##0.00;(#,##0.00)", "(1 500,50)"),
        (-1500.5, "#,##0.00;[Red]-#,##0.00", "-1 500,50"),
        (0, '#,##0.00;-#,##0.00;"—"', "—"),
        (-5, '0;"минус "0', "минус 5"),
        (150, '[>=100]"много";[<0]"минус";0', "много"),
        (-5, '[>=100]"много";[<0]"минус";0', "минус"),
        (50, '[>=100]"много";[<0]"минус";0', "50"),
        (-1500, "[>=0]#,##0;(#,##0)", "(1 500)"),  # an ODS style:map for negatives
        (-1500, '[>=0]#,##0;"-"#,##0', "-1 500"),
        (1234.5, '_-* #,##0.00_-;-* #,##0.00_-;_-* "-"??_-;_-@_-', " 1 234,50 "),
    ],
)
def test_sections_for_negatives_zero_and_conditions(value, code, text):
    assert shown(value, code) == text


@pytest.mark.parametrize(
    ("code", "text"),
    [
        ("DD.MM.YYYY", "05.12.2026"),
        ("dd.mm.yy", "05.12.26"),
        ("d/m/yyyy", "5.12.2026"),  # "/" is the locale's date separator
        ("dd\\/mm\\/yyyy", "05/12/2026"),  # unless escaped
        ("dd.mm.yyyy hh:mm", "05.12.2026 09:30"),
        ("hh:mm", "09:30"),
        ("h:mm", "9:30"),
        ("hh:mm:ss", "09:30:00"),
        ("h:mm AM/PM", "9:30 AM"),
        ("d mmmm yyyy", "5 декабря 2026"),  # a day before it: genitive
        ("mmmm yyyy", "декабрь 2026"),
        ("d mmm", "5 дек"),
        ("dddd, d mmmm", "суббота, 5 декабря"),
        ("ddd dd.mm", "Сб 05.12"),
        ('yyyy "г."', "2026 г."),
        ("[$-F800]dddd, mmmm dd, yyyy", "суббота, 5 декабря 2026 г."),
        ("[$-409]mmmm d, yyyy", "December 5, 2026"),
        ("[$-419]d mmmm yyyy", "5 декабря 2026"),
    ],
)
def test_dates_and_times_through_their_format(code, text):
    assert shown(VISIT, code) == text
    assert shown(VISIT_SERIAL, code) == text  # a float serial where calamine saw no date


def test_time_is_rounded_as_shown_not_cut():
    assert shown(time(9, 29, 59, 700000), "hh:mm:ss") == "09:30:00"
    assert shown(time(9, 29, 59, 700000), "hh:mm:ss.0") == "09:29:59,7"


def test_elapsed_time_counts_past_a_day():
    assert shown(timedelta(hours=30, minutes=5), "[h]:mm") == "30:05"
    assert shown(1.25, "[h]:mm:ss") == "30:00:00"
    assert shown(timedelta(minutes=90), "[mm]:ss") == "90:00"


@pytest.mark.parametrize(
    ("format_id", "value", "text"),
    [
        (14, VISIT, "05.12.2026"),  # the locale's short date
        (22, VISIT, "05.12.2026 09:30"),
        (20, VISIT, "09:30"),
        (21, VISIT, "09:30:00"),
        (4, 1500.5, "1 500,50"),
        (9, 0.15, "15%"),
        (10, 0.155, "15,50%"),
        (3, 79161234567, "79 161 234 567"),
        (1, 79161234567, "79161234567"),
        (49, 79161234567.0, "79161234567"),  # text format: as General
    ],
)
def test_builtin_formats_follow_russian_conventions(format_id, value, text):
    assert shown(value, BUILTIN_FORMATS[format_id]) == text


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (79161234567.0, "79161234567"),  # a phone never gets ".0" or an exponent
        (42.0, "42"),
        (-3.0, "-3"),
        (1.5, "1.5"),
        (0.1 + 0.2, "0.3"),  # 15 significant digits, as Excel keeps
        (1e20, "1E+20"),
        (True, "ИСТИНА"),
        (False, "ЛОЖЬ"),
        (None, ""),
        ("007", "007"),
        (datetime(2026, 12, 5), "05.12.2026"),
        (date(2026, 12, 5), "05.12.2026"),
        (VISIT, "05.12.2026 09:30"),
        (datetime(2026, 12, 5, 9, 30, 15), "05.12.2026 09:30:15"),
        (time(9, 30), "09:30"),
        (time(9, 30, 5), "09:30:05"),
        (timedelta(hours=30), "30:00"),
    ],
)
def test_values_without_a_format(value, text):
    assert cell_text(value) == text
    assert cell_text(value, CellFormat.compile("General")) == text


@pytest.mark.parametrize("code", ["General", "@", "", "general"])
def test_general_and_text_formats_are_general(code):
    assert CellFormat.compile(code).general


def test_phone_formats_fill_digits_from_the_right():
    assert shown(9161234567, "(000) 000-00-00") == "(916) 123-45-67"
    assert shown(79161234567, "+0 (000) 000-00-00") == "+7 (916) 123-45-67"


@pytest.mark.parametrize(
    ("text", "moment"),
    [
        ("05.12.2026", datetime(2026, 12, 5)),
        ("5.12.26", datetime(2026, 12, 5)),
        ("05/12/2026", datetime(2026, 12, 5)),
        ("2026-12-05", datetime(2026, 12, 5)),
        ("2026-12-05 09:30:00", VISIT),
        ("2026-12-05T09:30", VISIT),
        ("05.12.2026 09:30", VISIT),
        ("05.12.2026, 9:30", VISIT),
        ("5 декабря 2026", datetime(2026, 12, 5)),
        ("5 декабря 2026 г.", datetime(2026, 12, 5)),
        ("5 дек 2026 в 09:30", VISIT),
        ("09:30", time(9, 30)),
        ("9:30:15", time(9, 30, 15)),
        ("31.02.2026", None),
        ("25:00", None),
        ("Анна", None),
        ("46361", None),
    ],
)
def test_stored_dates_are_read_back_day_first(text, moment):
    assert parse_moment(text) == moment


def test_a_date_without_a_year_is_in_this_year():
    assert parse_moment("5 декабря", today=date(2027, 1, 1)) == datetime(2027, 12, 5)


@pytest.mark.parametrize(
    ("text", "number"),
    [
        ("1500.5", Decimal("1500.5")),
        ("1500,5", Decimal("1500.5")),
        ("1 500,50", Decimal("1500.50")),
        ("1\u00a0500,50", Decimal("1500.50")),
        ("1,500.50", Decimal("1500.50")),
        ("1.500,50", Decimal("1500.50")),
        ("1,500,000", Decimal("1500000")),
        ("-3", Decimal("-3")),
        ("−3,5", Decimal("-3.5")),
        (",5", Decimal("0.5")),
        ("79161234567", Decimal("79161234567")),
        ("12 абв", None),
        ("1.2.3,4", Decimal("123.4")),
        ("", None),
    ],
)
def test_stored_numbers_are_read_back(text, number):
    assert parse_number(text) == number


@pytest.mark.parametrize(
    ("kind", "pattern", "value", "text"),
    [
        ("date", None, "2026-12-05", "05.12.2026"),
        ("date", None, "2026-12-05 09:30:00", "05.12.2026"),
        ("date", "D MMMM", "05.12.2026", "5 декабря"),
        ("date", "D MMMM YYYY 'года'", "05.12.2026", "5 декабря 2026 года"),
        ("date", "dddd, D MMMM", "2026-12-05", "суббота, 5 декабря"),
        ("date", "ДД.ММ.ГГ", "2026-12-05", "05.12.26"),
        ("date", "Д ММММ 'в' ЧЧ:мм", "2026-12-05 09:30", "5 декабря в 09:30"),
        ("date", "DD/MM/YYYY", "05.12.2026", "05/12/2026"),
        ("date", "MMMM", "05.12.2026", "декабрь"),
        ("time", None, "2026-12-05 09:30:00", "09:30"),
        ("time", None, "9:30", "09:30"),
        ("time", "H:mm", "09:05", "9:05"),
        ("time", "ЧЧ 'ч' мм 'мин'", "09:05", "09 ч 05 мин"),
        ("number", None, "1500.5", "1 500,50"),
        ("number", None, "1500", "1 500"),
        ("number", None, "2.125", "2,125"),
        ("number", None, "-1234567,8", "-1 234 567,80"),
        ("number", None, "15%", "15%"),
        ("number", "0", "1500.5", "1501"),
        ("number", "# ##0,00", "1500", "1 500,00"),
        ("number", "#,##0.00", "1500", "1 500,00"),
        ("number", "0,0 'руб.'", "1500", "1500,0 руб."),
        ("number", "0 ₽", "99.4", "99 ₽"),
    ],
)
def test_template_formats_show_stored_values(kind, pattern, value, text):
    assert template_format(kind, pattern)(value) == text


@pytest.mark.parametrize(
    ("kind", "value"),
    [("date", "Анна"), ("date", "09:30"), ("time", "скоро"), ("number", "много")],
)
def test_template_formats_give_up_on_values_they_cannot_read(kind, value):
    assert template_format(kind)(value) is None


@pytest.mark.parametrize(
    ("kind", "pattern"),
    [
        ("date", "QQ"),
        ("date", "D MMMM года"),  # words must be quoted: "г" and "д" are year and day
        ("date", "Д ММММ в ЧЧ:мм"),
        ("date", ""),
        ("date", ". ,"),  # nothing of a date
        ("number", "abc"),
        ("number", ""),
        ("number", "x0"),
    ],
)
def test_unusable_patterns_are_refused(kind, pattern):
    with pytest.raises(PatternError):
        template_format(kind, pattern)


def test_extreme_values_never_break_a_format():
    assert shown(1e300, "#,##0.00").startswith("1 000 000 000")
    assert shown(-1e-300, "0.00") == "0,00"
    assert shown(3e6, "dd.mm.yyyy") == "3000000"  # past the year 9999: as in General
    assert shown(-5.0, "dd.mm.yyyy") == "-5"
