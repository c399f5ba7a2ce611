"""Values as text the way people see them, with Russian conventions.

Spreadsheet cells: ``CellFormat.compile(code)`` reads an Excel number format code (XLSX and
XLS store them; ODS data styles are translated to one) and ``cell_text(value, format)`` shows a
cell's value through it as Russian Excel does: ``05.12.2026``, ``09:30``, ``1 500,50``, ``15%``,
``5 декабря``. In a code ``.`` and ``,`` stand for the decimal and grouping separators and ``/``
for the date separator, all of which Excel takes from the locale: here ``,``, a space and ``.``.
Without a format numbers are shown whole when whole (a phone never gets ``.0``), otherwise
with up to 15 significant digits and a decimal point; dates as ``ДД.ММ.ГГГГ``, times ``ЧЧ:ММ``.

Message templates: ``template_format(kind, pattern)`` makes the function behind
``{{ Column | дата "D MMMM" }}``; it reads a stored text value back (``05.12.2026``,
``2026-12-05 09:30:00``, ``1500.5``, ``1 500,50``) and shows it in the pattern.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Context, Decimal, InvalidOperation
from fractions import Fraction
from functools import lru_cache

DECIMAL_SEPARATOR = ","
GROUP_SEPARATOR = " "
DATE_SEPARATOR = "."
DATE_CODE = "dd.mm.yyyy"
TIME_CODE = "hh:mm"

MONTHS = (
    "январь", "февраль", "март", "апрель", "май", "июнь",
    "июль", "август", "сентябрь", "октябрь", "ноябрь", "декабрь",
)  # fmt: skip
# After a day number the month is in the genitive: "5 декабря", but "декабрь 2026".
MONTHS_GENITIVE = (
    "января", "февраля", "марта", "апреля", "мая", "июня",
    "июля", "августа", "сентября", "октября", "ноября", "декабря",
)  # fmt: skip
MONTHS_SHORT = (
    "янв", "фев", "мар", "апр", "май", "июн", "июл", "авг", "сен", "окт", "ноя", "дек",
)  # fmt: skip
WEEKDAYS = ("понедельник", "вторник", "среда", "четверг", "пятница", "суббота", "воскресенье")
WEEKDAYS_SHORT = ("Пн", "Вт", "Ср", "Чт", "Пт", "Сб", "Вс")
TRUE_TEXT, FALSE_TEXT = "ИСТИНА", "ЛОЖЬ"

# Room for every float's digits, so that rounding 1e300 to cents is no error.
_WIDE = Context(prec=1000, Emax=10_000, Emin=-10_000)
# Excel's serial day 0 (which makes dates before March 1900, of no list, a day off).
_EPOCH = datetime(1899, 12, 30)
_MAX_SERIAL = 2_958_466  # 1 January 10000
# System formats Excel writes as a locale tag: the long date and the time of Windows' ru-RU.
_SYSTEM_FORMATS = {"F800": 'dddd, d mmmm yyyy "г."', "F400": "h:mm:ss"}

Value = int | float | Decimal | datetime | date | time | timedelta | bool | str | None


def cell_text(value: Value, cell_format: CellFormat | None = None) -> str:
    """A cell's value as text, through its number format when it has one."""
    if value is None:
        return ""
    if type(value) is str:
        return value
    if type(value) is bool:
        return TRUE_TEXT if value else FALSE_TEXT
    if cell_format is not None and not cell_format.general:
        return cell_format.text(value)
    return general_text(value)


def general_text(value: Value) -> str:
    """A value with no number format: see the module's docstring."""
    if isinstance(value, float | int | Decimal) and not isinstance(value, bool):
        return _general_number(value)
    if isinstance(value, datetime):
        if value.time() == time():
            return _DEFAULT_DATE.text(value)
        return (_DEFAULT_DATETIME_SECONDS if value.second else _DEFAULT_DATETIME).text(value)
    if isinstance(value, date):
        return _DEFAULT_DATE.text(value)
    if isinstance(value, time | timedelta):
        has_seconds = (value.second if isinstance(value, time) else value.seconds % 60) != 0
        if isinstance(value, timedelta):
            return (_DEFAULT_ELAPSED_SECONDS if has_seconds else _DEFAULT_ELAPSED).text(value)
        return (_DEFAULT_TIME_SECONDS if has_seconds else _DEFAULT_TIME).text(value)
    return str(value)


def _general_number(value: float | int | Decimal) -> str:
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if value == int(value) and abs(value) < 1e16:
        return str(int(value))  # workbooks store numbers as floats; a phone must not end in ".0"
    text = f"{value:.15g}"  # what Excel keeps: 0.1 + 0.2 is 0.3
    if "e" in text:
        mantissa, _, exponent = text.partition("e")
        return f"{mantissa}E{exponent}"
    return text


# Compiled formats


@dataclass(frozen=True)
class _Token:
    kind: str  # literal, digit, point, comma, percent, exponent, slash, general, text, date
    text: str


@dataclass
class _Section:
    tokens: list[_Token]
    condition: tuple[str, float] | None = None
    is_date: bool = False
    is_text: bool = False
    english: bool = False
    system: str | None = None  # a Windows system format that replaces the section's own code
    show: Callable[[object], str] | None = None  # compiled on first use


@dataclass(frozen=True, eq=False)
class CellFormat:
    """A compiled number format code; ``text(value)`` shows a number, date or time through it."""

    code: str
    sections: tuple[_Section, ...] = field(repr=False)
    general: bool = False

    @staticmethod
    def compile(code: str) -> CellFormat:
        """Compile an Excel format code; unknown parts are shown as literal text, never refused."""
        return _compile(code)

    def text(self, value: Value) -> str:
        """The value as the format shows it; text and booleans are left to ``cell_text``.

        A value the format cannot show (a date past the year 9999) is shown as in General,
        where Excel shows "####".
        """
        if self.general:
            return general_text(value)
        try:
            return self._text(value)
        except (ArithmeticError, ValueError):
            return general_text(value)

    def _text(self, value: Value) -> str:
        if isinstance(value, datetime | date | time | timedelta):
            section = next((s for s in self.sections if s.is_date), None)
            return _date_text(section, value) if section else general_text(value)
        number = value if isinstance(value, float | int | Decimal) else float(value)
        if isinstance(number, float) and not math.isfinite(number):
            return str(number)
        section, signed = self._section_for(number)
        if section.is_date:
            moment = _from_serial(float(number))
            return general_text(number) if moment is None else _date_text(section, moment)
        if section.is_text:
            return general_text(number)
        return _number_text(section, number if signed else abs(number))

    def _section_for(self, number: float | int | Decimal) -> tuple[_Section, bool]:
        """The section that shows `number`, and whether it shows the minus sign itself."""
        numeric = [s for s in self.sections if not s.is_text] or list(self.sections)
        if any(s.condition for s in numeric):
            default = [s for s in numeric if s.condition is None]
            for section in numeric:
                if section.condition and _holds(section.condition, number):
                    return section, section is numeric[0]
            # The section after the conditional ones takes the rest; like a negatives section
            # it shows no minus of its own (LibreOffice writes "-" or "( )" into it).
            rest = default[0] if default else numeric[-1]
            return rest, rest is numeric[0]
        if number < 0 and len(numeric) >= 2:
            return numeric[1], False
        if number == 0 and len(numeric) >= 3:
            return numeric[2], False
        return numeric[0], True


def _holds(condition: tuple[str, float], number: float | int | Decimal) -> bool:
    operator, limit = condition
    value = float(number)
    return {
        "<": value < limit,
        "<=": value <= limit,
        ">": value > limit,
        ">=": value >= limit,
        "=": value == limit,
        "<>": value != limit,
    }[operator]


_SECTION_SPLIT = re.compile(r'((?:"[^"]*"|\\.|\[[^\]]*\]|[^;"\\\[])*)(?:;|$)')
_CONDITION = re.compile(r"^(<=|>=|<>|<|>|=)\s*(-?\d+(?:\.\d+)?)$")
_ELAPSED = re.compile(r"^(h+|m+|s+)$", re.IGNORECASE)
_DATE_LETTERS = frozenset("ymdhsYMDHS")


@lru_cache(maxsize=512)
def _compile(code: str) -> CellFormat:
    if code.strip().lower() in ("", "general", "standard"):
        return CellFormat(code, (), general=True)
    sections = tuple(_compile_section(part) for part in _split_sections(code))
    if all(s.is_text for s in sections) and not any(
        t.kind == "literal" for s in sections for t in s.tokens
    ):
        return CellFormat(code, (), general=True)  # "@": text, numbers shown as in General
    return CellFormat(code, sections)


def _split_sections(code: str) -> list[str]:
    parts = [m.group(1) for m in _SECTION_SPLIT.finditer(code)]
    # finditer yields a last empty match at the end of the code; trailing ";" adds an empty one.
    while len(parts) > 1 and parts[-1] == "":
        parts.pop()
    return parts[:4]


def _compile_section(text: str) -> _Section:
    section = _Section([])
    tokens = section.tokens
    i = 0
    while i < len(text):
        char = text[i]
        rest = text[i:]
        if char == '"':
            end = text.find('"', i + 1)
            end = len(text) if end < 0 else end
            tokens.append(_Token("literal", text[i + 1 : end]))
            i = end + 1
        elif char == "\\" and i + 1 < len(text):
            tokens.append(_Token("literal", text[i + 1]))
            i += 2
        elif char == "_" and i + 1 < len(text):
            tokens.append(_Token("literal", " "))  # padding the width of the next character
            i += 2
        elif char == "*" and i + 1 < len(text):
            i += 2  # fill to the column's width: nothing to fill in text
        elif char == "[":
            end = text.find("]", i)
            end = len(text) if end < 0 else end
            _bracket(text[i + 1 : end], section)
            i = end + 1
        elif rest[:7].lower() == "general":
            tokens.append(_Token("general", ""))
            i += 7
        elif rest[:5].upper() == "AM/PM" or rest[:3].upper() == "A/P":
            length = 5 if rest[:5].upper() == "AM/PM" else 3
            tokens.append(_Token("ampm", rest[:length]))
            section.is_date = True
            i += length
        elif char in _DATE_LETTERS:
            run = len(rest) - len(rest.lstrip(char.lower() + char.upper()))
            tokens.append(_Token("date", char.lower() * run))
            section.is_date = True
            i += run
        elif char in "eE" and rest[1:2] in ("+", "-"):
            tokens.append(_Token("exponent", rest[1]))
            i += 2
        elif char in "0#?":
            tokens.append(_Token("digit", char))
            i += 1
        elif char in ".,%/@":
            kind = {".": "point", ",": "comma", "%": "percent", "/": "slash", "@": "text"}[char]
            tokens.append(_Token(kind, char))
            i += 1
        else:
            tokens.append(_Token("literal", char))
            i += 1
    if section.system:
        return _compile_section(section.system)
    section.is_text = any(t.kind == "text" for t in tokens) and not section.is_date
    if section.is_date:
        _resolve_minutes(tokens)
    return section


def _bracket(content: str, section: _Section) -> None:
    """[Red], [>=100], [$₽-419], [$-F800], [h]: colours are dropped, the rest kept."""
    if match := _CONDITION.match(content.replace(" ", "")):
        section.condition = (match.group(1), float(match.group(2)))
    elif _ELAPSED.match(content):
        section.tokens.append(_Token("elapsed", content.lower()))
        section.is_date = True
    elif content.startswith("$"):
        symbol, _, locale = content[1:].partition("-")
        if symbol:
            section.tokens.append(_Token("literal", symbol))
        locale = locale.upper()
        section.system = _SYSTEM_FORMATS.get(locale[-4:])
        # An explicit English locale (0409 en-US, 0809 en-GB…) names months in English.
        section.english = locale[-2:] == "09"


def _resolve_minutes(tokens: list[_Token]) -> None:
    """Excel's "m" is minutes right after hours or right before seconds, else the month."""
    timed = [i for i, t in enumerate(tokens) if t.kind in ("date", "elapsed")]
    for place, i in enumerate(timed):
        token = tokens[i]
        if token.kind != "date" or token.text not in ("m", "mm"):
            continue
        before = tokens[timed[place - 1]].text if place else ""
        after = tokens[timed[place + 1]].text if place + 1 < len(timed) else ""
        if before.lstrip("[")[:1] == "h" or after.lstrip("[")[:1] == "s":
            tokens[i] = _Token("minute", token.text)


# Dates and times

_ENGLISH_MONTHS = (
    "January", "February", "March", "April", "May", "June",
    "July", "August", "September", "October", "November", "December",
)  # fmt: skip
_ENGLISH_WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


def _from_serial(serial: float) -> timedelta | None:
    return timedelta(days=serial) if 0 <= serial < _MAX_SERIAL else None


def _date_text(section: _Section, value: datetime | date | time | timedelta) -> str:
    if section.show is None:
        section.show = _date_renderer(section.tokens, section.english)
    return section.show(value)


def _date_renderer(tokens: list[_Token], english: bool) -> Callable[[object], str]:
    """Compile a date section into a function of the value: its parts, computed once."""
    fraction_digits = _second_fraction_digits(tokens)
    twelve_hours = any(t.kind == "ampm" for t in tokens)
    day_named = any(t.kind == "date" and t.text in ("d", "dd") for t in tokens)
    parts: list[str | Callable[[datetime, timedelta], str]] = []
    index = 0
    while index < len(tokens):
        kind, text = tokens[index].kind, tokens[index].text
        if kind == "point" and fraction_digits and _is_second_fraction(tokens, index):
            parts.append(DECIMAL_SEPARATOR)
            parts.append(lambda m, e, n=fraction_digits: f"{m.microsecond:06d}"[:n])
            index += fraction_digits
        elif kind == "slash":
            parts.append(DATE_SEPARATOR)
        elif kind == "ampm":
            morning, evening = text.split("/")
            parts.append(lambda m, e, am=morning, pm=evening: am if m.hour < 12 else pm)
        elif kind == "elapsed":
            parts.append(lambda m, e, unit=text: _elapsed_text(unit, e))
        elif kind == "minute":
            width = len(text)
            parts.append(lambda m, e, width=width: f"{m.minute:0{width}d}")
        elif kind == "date":
            parts.append(_date_part(text, twelve_hours, day_named, english))
        elif kind == "digit":
            parts.append("0" if text == "0" else "")
        else:
            parts.append(text)
        index += 1
    step = timedelta(seconds=10**-fraction_digits)

    def show(value: object) -> str:
        moment, elapsed = _moment(value)
        # Shown to the precision the format shows: 09:29:59.7 is "09:30:00" in Excel too.
        if abs(elapsed) < timedelta(days=_MAX_SERIAL) and (moment.microsecond or elapsed < _ZERO):
            rounded = (elapsed + step / 2) // step * step
            moment, elapsed = moment + (rounded - elapsed), rounded
        return "".join(part if type(part) is str else part(moment, elapsed) for part in parts)

    return show


_ZERO = timedelta()


def _moment(value: object) -> tuple[datetime, timedelta]:
    """The point in time a value shows, and the time elapsed since serial day 0."""
    if isinstance(value, timedelta):
        return _EPOCH + value, value
    if isinstance(value, datetime):
        moment = value.replace(tzinfo=None)
    elif isinstance(value, date):
        moment = datetime.combine(value, time())
    else:
        moment = datetime.combine(_EPOCH.date(), value.replace(tzinfo=None))  # type: ignore[union-attr]
    return moment, moment - _EPOCH


def _second_fraction_digits(tokens: list[_Token]) -> int:
    for index, token in enumerate(tokens):
        if token.kind == "point" and _is_second_fraction(tokens, index):
            digits = 0
            for after in tokens[index + 1 :]:
                if after.kind != "digit" or after.text != "0":
                    break
                digits += 1
            return digits
    return 0


def _is_second_fraction(tokens: list[_Token], index: int) -> bool:
    before = tokens[index - 1] if index else None
    after = tokens[index + 1] if index + 1 < len(tokens) else None
    seconds = before is not None and (
        (before.kind == "date" and before.text in ("s", "ss")) or before.text.startswith("[s")
    )
    return seconds and after is not None and after.kind == "digit" and after.text == "0"


def _elapsed_text(text: str, elapsed: timedelta) -> str:
    seconds = math.floor(elapsed.total_seconds())
    unit = text.strip("[]")
    total = {"h": seconds // 3600, "m": seconds // 60, "s": seconds}[unit[0]]
    sign = "-" if total < 0 else ""
    return f"{sign}{abs(total):0{len(unit)}d}"


def _date_part(
    text: str, twelve_hours: bool, day_named: bool, english: bool
) -> Callable[[datetime, timedelta], str]:
    letter, length = text[0], len(text)
    if letter == "y":
        if length <= 2:
            return lambda m, e: f"{m.year % 100:02d}"
        return lambda m, e: f"{m.year:04d}"
    if letter == "m":
        if length <= 2:
            return lambda m, e: f"{m.month:0{length}d}"
        if english:
            names = [{3: n[:3], 4: n}.get(length, n[0]) for n in _ENGLISH_MONTHS]
        elif length == 3:
            names = list(MONTHS_SHORT)
        elif length == 4:
            names = list(MONTHS_GENITIVE if day_named else MONTHS)
        else:
            names = [n[0].upper() for n in MONTHS]
        return lambda m, e: names[m.month - 1]
    if letter == "d":
        if length <= 2:
            return lambda m, e: f"{m.day:0{length}d}"
        if english:
            days = [n[:3] if length == 3 else n for n in _ENGLISH_WEEKDAYS]
        else:
            days = list(WEEKDAYS_SHORT if length == 3 else WEEKDAYS)
        return lambda m, e: days[m.weekday()]
    width = min(length, 2)
    if letter == "h":
        if twelve_hours:
            return lambda m, e: f"{m.hour % 12 or 12:0{width}d}"
        return lambda m, e: f"{m.hour:0{width}d}"
    return lambda m, e: f"{m.second:0{width}d}"  # "s"


# Numbers


def _number_text(section: _Section, number: float | int | Decimal) -> str:
    if section.show is None:
        section.show = _number_renderer(section.tokens)
    return section.show(number)


def _number_renderer(tokens: list[_Token]) -> Callable[[object], str]:
    """Compile a number section into a function of the value."""
    if any(t.kind == "general" for t in tokens):

        def general(number: object) -> str:
            shown = _general_number(number).replace(".", DECIMAL_SEPARATOR)
            return "".join(shown if t.kind == "general" else _literal(t) for t in tokens)

        return general
    if not any(t.kind == "digit" for t in tokens):
        # Only literals ("-" for zero in accounting formats, or a fixed word).
        text = "".join(_literal(t) for t in tokens)
        return lambda number: text
    multiplier = Decimal(100) ** sum(1 for t in tokens if t.kind == "percent")
    if any(t.kind == "slash" for t in tokens):
        return lambda number: _fraction_text(tokens, _decimal(number) * multiplier)
    if any(t.kind == "exponent" for t in tokens):
        return lambda number: _scientific_text(tokens, _decimal(number) * multiplier)
    return _simple_renderer(tokens, multiplier) or (
        lambda number: _fixed_text(tokens, _decimal(number) * multiplier)
    )


_SIMPLE_NUMBER = re.compile(r"^(L*)(#*,?#*0[0,]*)(?:(P)(0*))?(L*)$")


def _simple_renderer(tokens: list[_Token], multiplier: Decimal) -> Callable[[object], str] | None:
    """The common layouts (literals, "#,##0", ".00", literals) without the general algorithm."""
    shape = "".join(
        {"digit": t.text if t.text in "#0" else "?", "comma": ",", "point": "P"}.get(t.kind, "L")
        for t in tokens
    )
    match = _SIMPLE_NUMBER.match(shape)
    if not match:
        return None
    whole = match.group(2)
    scale = Decimal(1000) ** (len(whole) - len(whole.rstrip(",")))
    whole = whole.rstrip(",")
    grouping = "," in whole
    digits = whole.replace(",", "")
    minimum = len(digits) - digits.index("0")
    places = len(match.group(4) or "")
    quantum = Decimal(1).scaleb(-places)
    prefix = "".join(_literal(t) for t in tokens[: len(match.group(1))])
    suffix = "".join(_literal(t) for t in tokens[len(tokens) - len(match.group(5)) :])
    point = DECIMAL_SEPARATOR if match.group(3) else ""
    factor = multiplier / scale
    float_factor, unit = float(factor) * 10**places, 10**places

    def show(number: object) -> str:
        if type(number) is float or type(number) is int:
            # Whole units of the last place shown, rounded half up as Excel does on its 15
            # significant digits: 2.675 is 2,68 though the float is 2.67499999…
            scaled = abs(number) * float_factor
            if scaled < 1e15:
                units = math.floor(scaled + 0.5 + scaled * 1e-15)
                whole, part = divmod(units, unit)
                negative = number < 0 and units > 0
                return _shown(negative, whole, f"{part:0{places}d}" if places else "")
        value = _decimal(number) * factor
        rounded = abs(value).quantize(quantum, ROUND_HALF_UP, _WIDE)
        integer, _, fraction = f"{rounded:f}".partition(".")
        return _shown(value < 0 and rounded != 0, int(integer), fraction)

    def _shown(negative: bool, whole: int, fraction: str) -> str:
        integer = (str(whole) if whole else "").rjust(minimum, "0")
        if grouping:
            integer = _group(integer)
        sign = "-" if negative else ""
        return f"{sign}{prefix}{integer}{point}{fraction}{suffix}"

    return show


def _literal(token: _Token) -> str:
    if token.kind == "point":
        return DECIMAL_SEPARATOR
    if token.kind in ("digit", "comma", "text", "date", "ampm", "elapsed", "minute"):
        return ""
    return token.text


def _decimal(number: float | int | Decimal) -> Decimal:
    if isinstance(number, Decimal):
        return number
    # repr gives the shortest digits that read back to the float: 2.675, not 2.67499999…
    return Decimal(repr(number)) if isinstance(number, float) else Decimal(number)


def _digit_layout(tokens: list[_Token]) -> tuple[list[int], list[int], int, bool]:
    """Digit placeholder positions before and after the point, thousands scaling, grouping."""
    digits = [i for i, t in enumerate(tokens) if t.kind == "digit"]
    point = next((i for i, t in enumerate(tokens) if t.kind == "point"), None)
    whole = [i for i in digits if point is None or i < point]
    fraction = [i for i in digits if point is not None and i > point]
    grouping = bool(whole) and any(t.kind == "comma" for t in tokens[whole[0] : whole[-1]])
    # Commas right after the last digit placeholder divide by a thousand each.
    scale = 0
    after = digits[-1] + 1 if digits else len(tokens)
    while after < len(tokens) and tokens[after].kind == "comma":
        scale += 1
        after += 1
    return whole, fraction, scale, grouping


def _fixed_text(tokens: list[_Token], decimal: Decimal) -> str:
    whole, fraction, scale, grouping = _digit_layout(tokens)
    decimal /= Decimal(1000) ** scale
    negative = decimal < 0
    rounded = abs(decimal).quantize(Decimal(1).scaleb(-len(fraction)), ROUND_HALF_UP, _WIDE)
    if rounded == 0:
        negative = False  # Excel shows -0.001 in "0.00" as 0,00
    integer, _, fraction_digits = f"{rounded:f}".partition(".")
    text = _fill(tokens, whole, fraction, integer.lstrip("0"), fraction_digits, grouping)
    return ("-" if negative else "") + text


def _fill(
    tokens: list[_Token],
    whole: list[int],
    fraction: list[int],
    integer: str,
    fraction_digits: str,
    grouping: bool,
) -> str:
    """Digits into their placeholders: whole ones from the right, fraction ones from the left."""
    placed: dict[int, str] = {}
    remaining = integer
    for position in reversed(whole):
        placeholder = tokens[position].text
        if remaining:
            placed[position], remaining = remaining[-1], remaining[:-1]
        else:
            placed[position] = {"0": "0", "?": " ", "#": ""}[placeholder]
    if whole:
        placed[whole[0]] = remaining + placed[whole[0]]  # digits beyond the placeholders
        if grouping:
            joined = "".join(placed[p] for p in whole).strip()
            for position in whole:
                placed[position] = ""
            placed[whole[0]] = _group(joined)
    fraction_text = list(fraction_digits.ljust(len(fraction), "0"))
    for offset in range(len(fraction) - 1, -1, -1):
        placeholder = tokens[fraction[offset]].text
        if placeholder == "0" or fraction_text[offset] != "0":
            break
        fraction_text[offset] = "" if placeholder == "#" else " "
    for offset, position in enumerate(fraction):
        placed[position] = fraction_text[offset]
    out = []
    for index, token in enumerate(tokens):
        if index in placed:
            out.append(placed[index])
        elif token.kind != "comma":
            out.append(_literal(token))
    return "".join(out)


def _group(digits: str) -> str:
    head = len(digits) % 3 or 3
    groups = [digits[:head]] + [digits[i : i + 3] for i in range(head, len(digits), 3)]
    return GROUP_SEPARATOR.join(g for g in groups if g)


def _scientific_text(tokens: list[_Token], decimal: Decimal) -> str:
    at = next(i for i, t in enumerate(tokens) if t.kind == "exponent")
    mantissa_tokens, exponent_tokens = tokens[:at], tokens[at + 1 :]
    whole, fraction, _, _ = _digit_layout(mantissa_tokens)
    width = max(len(whole), 1)
    exponent = 0
    if decimal != 0:
        exponent = abs(decimal).adjusted()
        # "##0.0E+0": engineering notation, the exponent a multiple of the whole digits' count.
        if width > 1 and tokens[whole[0]].text == "#":
            exponent -= exponent % width
        else:
            exponent -= width - 1
    mantissa = decimal.scaleb(-exponent)
    rounded = abs(mantissa).quantize(Decimal(1).scaleb(-len(fraction)), ROUND_HALF_UP, _WIDE)
    if rounded >= Decimal(10) ** width and decimal != 0:
        exponent += 1
        rounded = abs(decimal.scaleb(-exponent)).quantize(
            Decimal(1).scaleb(-len(fraction)), ROUND_HALF_UP
        )
    integer, _, fraction_digits = f"{rounded:f}".partition(".")
    head = _fill(mantissa_tokens, whole, fraction, integer.lstrip("0"), fraction_digits, False)
    exponent_width = sum(1 for t in exponent_tokens if t.kind == "digit")
    sign = "-" if exponent < 0 else ("+" if tokens[at].text == "+" else "")
    tail = "".join(_literal(t) for t in exponent_tokens if t.kind != "digit")
    negative = "-" if decimal < 0 else ""
    return f"{negative}{head}E{sign}{abs(exponent):0{exponent_width}d}{tail}"


def _fraction_text(tokens: list[_Token], decimal: Decimal) -> str:
    """ "# ?/?", "# ??/16": a whole part (when the format has one) and a fraction."""
    slash = next(i for i, t in enumerate(tokens) if t.kind == "slash")
    after = tokens[slash + 1 :]
    denominator_text = ""
    for token in after:
        if token.kind == "digit" or (token.kind == "literal" and token.text.isdigit()):
            denominator_text += token.text
        elif denominator_text:
            break
    numerator_at = slash - 1
    while numerator_at > 0 and tokens[numerator_at - 1].kind == "digit":
        numerator_at -= 1
    has_whole = any(t.kind == "digit" for t in tokens[: max(numerator_at - 1, 0)])
    value = Fraction(abs(decimal))
    whole_part = math.floor(value) if has_whole else 0
    rest = value - whole_part
    if denominator_text.isdigit():
        denominator = int(denominator_text)
        numerator = round(rest * denominator)
    else:
        approximation = rest.limit_denominator(10 ** len(denominator_text) - 1)
        numerator, denominator = approximation.numerator, approximation.denominator
    if numerator == denominator and has_whole:
        whole_part, numerator = whole_part + 1, 0
    sign = "-" if decimal < 0 and (whole_part or numerator) else ""
    fraction = f"{numerator}/{denominator}" if numerator else ""
    if has_whole:
        whole_text = str(whole_part) if whole_part or not fraction else ""
        return sign + " ".join(p for p in (whole_text, fraction) if p) or "0"
    return sign + (fraction or "0")


# Default formats

_DEFAULT_DATE = _compile(DATE_CODE)
_DEFAULT_DATETIME = _compile(f"{DATE_CODE} {TIME_CODE}")
_DEFAULT_DATETIME_SECONDS = _compile(f"{DATE_CODE} {TIME_CODE}:ss")
_DEFAULT_TIME = _compile(TIME_CODE)
_DEFAULT_TIME_SECONDS = _compile(f"{TIME_CODE}:ss")
_DEFAULT_ELAPSED = _compile("[h]:mm")
_DEFAULT_ELAPSED_SECONDS = _compile("[h]:mm:ss")

# Excel's built-in formats by id, as a Russian Excel shows them: the locale-dependent ones
# (short date, times, currency) in Russian conventions.
BUILTIN_FORMATS = {
    0: "General",
    1: "0",
    2: "0.00",
    3: "#,##0",
    4: "#,##0.00",
    5: '#,##0 "₽";-#,##0 "₽"',
    6: '#,##0 "₽";[Red]-#,##0 "₽"',
    7: '#,##0.00 "₽";-#,##0.00 "₽"',
    8: '#,##0.00 "₽";[Red]-#,##0.00 "₽"',
    9: "0%",
    10: "0.00%",
    11: "0.00E+00",
    12: "# ?/?",
    13: "# ??/??",
    14: DATE_CODE,
    15: "d-mmm-yy",
    16: "d-mmm",
    17: "mmm-yy",
    18: TIME_CODE,
    19: f"{TIME_CODE}:ss",
    20: TIME_CODE,
    21: f"{TIME_CODE}:ss",
    22: f"{DATE_CODE} {TIME_CODE}",
    37: "#,##0 ;(#,##0)",
    38: "#,##0 ;[Red](#,##0)",
    39: "#,##0.00;(#,##0.00)",
    40: "#,##0.00;[Red](#,##0.00)",
    41: '_-* #,##0_-;-* #,##0_-;_-* "-"_-;_-@_-',
    42: '_-* #,##0 "₽"_-;-* #,##0 "₽"_-;_-* "-" "₽"_-;_-@_-',
    43: '_-* #,##0.00_-;-* #,##0.00_-;_-* "-"??_-;_-@_-',
    44: '_-* #,##0.00 "₽"_-;-* #,##0.00 "₽"_-;_-* "-"?? "₽"_-;_-@_-',
    45: "mm:ss",
    46: "[h]:mm:ss",
    47: "mm:ss.0",
    48: "##0.0E+0",
    49: "@",
}
# Ids 27–36 and 50–58 are East Asian dates; elsewhere Excel shows them as the short date.
BUILTIN_FORMATS.update(dict.fromkeys([*range(27, 37), *range(50, 59)], DATE_CODE))


def builtin_format(format_id: int) -> str:
    """The code of a built-in format id; an unknown id shows as General."""
    return BUILTIN_FORMATS.get(format_id, "General")


# Reading stored text back, for template formats

_MONTH_NUMBERS = {
    name: number
    for names in (MONTHS, MONTHS_GENITIVE, MONTHS_SHORT)
    for number, name in enumerate(names, start=1)
} | {name.lower(): n for n, name in enumerate(_ENGLISH_MONTHS, start=1)}
_TIME = r"(?P<hour>\d{1,2})[:.](?P<minute>\d{2})(?::(?P<second>\d{2})(?:[.,]\d+)?)?"
_DATE_FORMS = [
    re.compile(rf"^(?P<day>\d{{1,2}})[./-](?P<month>\d{{1,2}})[./-](?P<year>\d{{4}}|\d{{2}})"
               rf"(?:(?:\s+|\s*,\s*)(?:в\s+)?{_TIME})?$"),
    re.compile(rf"^(?P<year>\d{{4}})-(?P<month>\d{{1,2}})-(?P<day>\d{{1,2}})"
               rf"(?:[T\s]{_TIME}(?:Z|[+-]\d{{2}}:?\d{{2}})?)?$"),
    re.compile(rf"^(?P<day>\d{{1,2}})\s+(?P<month_name>[^\W\d_]+)\.?(?:\s+(?P<year>\d{{4}}))?"
               rf"(?:\s*(?:г\.?|года))?(?:(?:\s+|\s*,\s*)(?:в\s+)?{_TIME})?$"),
]  # fmt: skip
_TIME_ONLY = re.compile(rf"^{_TIME}$")


def parse_moment(text: str, today: date | None = None) -> datetime | time | None:
    """A stored date, date-time or time read back; ``None`` if it is none of them.

    Days come before months, as in Russia: ``05.12.2026``, ``5/12/26``, ``2026-12-05``,
    ``5 декабря 2026``, each with an optional time; a bare ``09:30`` is a time. A date without
    its year (``5 декабря``) is in `today`'s year.
    """
    text = " ".join(text.split())
    if match := _TIME_ONLY.match(text):
        return _time(match)
    for form in _DATE_FORMS:
        if match := form.match(text):
            return _datetime(match, today)
    return None


def _time(match: re.Match[str]) -> time | None:
    hour, minute = int(match["hour"]), int(match["minute"])
    second = int(match["second"] or 0)
    if hour > 23 or minute > 59 or second > 59:
        return None
    return time(hour, minute, second)


def _datetime(match: re.Match[str], today: date | None) -> datetime | None:
    groups = match.groupdict()
    if groups.get("month_name"):
        month = _MONTH_NUMBERS.get(groups["month_name"].lower())
    else:
        month = int(groups["month"])
    year_text = groups["year"]
    if year_text is None:
        year = (today or date.today()).year
    else:
        year = int(year_text) + (2000 if len(year_text) == 2 else 0)
    clock = _time(match) if groups.get("hour") else time()
    if month is None or clock is None:
        return None
    try:
        return datetime.combine(date(year, month, int(groups["day"])), clock)
    except ValueError:
        return None  # 31.02.2026


_NUMBER = re.compile(r"^([+-]?)(\d[\d\s]*(?:[.,]\d[\d\s]*)*|[.,]\d+)$")


def parse_number(text: str) -> Decimal | None:
    """A stored number read back: ``1500.5``, ``1 500,50``, ``1,500.50``, ``-3``; else ``None``.

    A lone comma is the decimal comma (``1,5``); when both a comma and a point appear, the last
    one is the decimal separator. Spaces (also non-breaking ones) group digits.
    """
    text = text.strip().replace("\u00a0", " ").replace("\u202f", " ").replace("−", "-")
    match = _NUMBER.match(text)
    if not match:
        return None
    sign, body = match.groups()
    body = re.sub(r"\s", "", body)
    last = max(body.rfind(","), body.rfind("."))
    separators = {c for c in body if c in ",."}
    if len(separators) == 1 and body.count(next(iter(separators))) > 1:
        whole, fraction = body, ""  # 1,500,000 or 1.500.000: grouping only
    elif last >= 0:
        whole, fraction = body[:last], body[last + 1 :]
    else:
        whole, fraction = body, ""
    whole = whole.replace(",", "").replace(".", "")
    try:
        return Decimal(f"{sign}{whole or 0}.{fraction or 0}")
    except InvalidOperation:
        return None


# Template formats

TEMPLATE_FORMATS = {"дата": "date", "время": "time", "число": "number"}

_PATTERN_LETTERS = str.maketrans("ДдМмГгЧчСс", "ddmmyyhhss")
_DATE_PATTERN = re.compile(r"""^(?:[dmyhsДдМмГгЧчСс]+|'[^']*'|[^\w'"]|_)*$""", re.IGNORECASE)
_NUMBER_PATTERN = re.compile(r"^(?:[0#]+|[ \u00a0.,%]|'[^']*'|[^\w'\"])*$")


class PatternError(ValueError):
    """A template format's pattern that cannot be used."""


def template_format(kind: str, pattern: str | None = None) -> Callable[[str], str | None]:
    """The function showing a stored value through a template format; ``None`` if unreadable.

    `kind` is ``date``, ``time`` or ``number``. Date and time patterns use Excel's letters,
    Latin or Russian (``D MMMM``, ``ДД.ММ.ГГГГ ЧЧ:мм``); number patterns ``# ##0,00``-style
    placeholders with a space grouping digits. Text in single quotes is kept as it is.
    Raises ``PatternError`` for a pattern with anything else in it.
    """
    if kind == "number":
        return _number_format(None if pattern is None else _number_code(pattern))
    default = DATE_CODE if kind == "date" else TIME_CODE
    cell_format = _compile(default if pattern is None else _date_code(pattern))
    wants_date = _shows_date(cell_format)

    @lru_cache(maxsize=4096)  # a campaign repeats its dates: each is read once
    def show(text: str) -> str | None:
        moment = parse_moment(text)
        if moment is None or (wants_date and not isinstance(moment, datetime)):
            return None
        return cell_format.text(moment)

    return show


def _date_code(pattern: str) -> str:
    if not pattern.strip() or not _DATE_PATTERN.match(pattern):
        raise PatternError(pattern)
    code = re.sub(
        r"'([^']*)'|([/\"\\])|([^'/\"\\]+)",
        lambda m: (
            '"' + m[1] + '"' if m[1] is not None
            else "\\" + m[2] if m[2] else m[3].translate(_PATTERN_LETTERS)
        ),
        pattern,
    )  # fmt: skip
    if not any(t.kind in ("date", "minute") for t in _compile_section(code).tokens):
        raise PatternError(pattern)
    return code


def _shows_date(cell_format: CellFormat) -> bool:
    return any(
        t.kind == "date" and t.text[0] in "ymd"
        for section in cell_format.sections
        for t in section.tokens
    )


def _number_code(pattern: str) -> str:
    if not ("0" in pattern or "#" in pattern) or not _NUMBER_PATTERN.match(pattern):
        raise PatternError(pattern)
    # Russian: a comma is the decimal separator unless the pattern also has a point (#,##0.00).
    unquoted = re.sub(r"'[^']*'", "", pattern)
    decimal_comma = "," in unquoted and "." not in unquoted
    code = []
    for part in re.split(r"('[^']*')", pattern):
        if part.startswith("'"):
            code.append('"' + part[1:-1] + '"')
            continue
        if decimal_comma:
            part = part.replace(",", ".")
        code.append(re.sub(r"(?<=[0#])[ \u00a0](?=[0#])", ",", part))
    return "".join(code)


def _number_format(code: str | None) -> Callable[[str], str | None]:
    cell_format = None if code is None else _compile(code)

    @lru_cache(maxsize=4096)
    def show(text: str) -> str | None:
        stripped = text.strip()
        percent = stripped.endswith("%")
        number = parse_number(stripped.rstrip("%"))
        if number is None:
            return None
        if cell_format is not None:
            shown = cell_format.text(number / 100 if percent and "%" in code else number)
        else:
            shown = _grouped(number)
        return shown + "%" if percent and not shown.endswith("%") else shown

    return show


def _grouped(number: Decimal) -> str:
    """Digits grouped, a decimal comma, and two decimals at least when not whole: 1 500,50."""
    places = max(-number.as_tuple().exponent, 0) if number != number.to_integral() else 0
    places = max(places, 2) if places else 0
    code = "#,##0" + ("." + "0" * places if places else "")
    return _compile(code).text(number.normalize() if places == 0 else number)
