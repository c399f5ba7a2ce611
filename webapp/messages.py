"""Message templates: column placeholders, fallbacks and variants; parsed once, rendered often.

The whole syntax; nothing else in a template is interpreted, so no text can run as code:

* ``{{ Column }}`` inserts the contact's value of a list column (the phone column included),
  named ignoring case and runs of spaces. ``{{ Column | text }}`` uses ``text`` when the value is
  empty; ``{{ Column | }}`` leaves it blank on purpose, without a warning.
* ``{{ Column | дата }}``, ``{{ Column | время }}`` and ``{{ Column | число }}`` show the value
  as a date (05.12.2026), a time (09:30) or a number (1 500,50); a pattern in double quotes
  says how: ``{{ Дата визита | дата "D MMMM" }}`` is "5 декабря" (see ``webapp.formats``).
  A fallback may follow: ``{{ Дата | дата | скоро }}``. After a bar, a format's name alone or
  a word with a quoted pattern is a format, refused if unknown; anything else is a fallback.
* ``{first|second|third}`` picks one variant per recipient, the same one every time for the same
  seed, so the preview shows exactly what is sent. Variants nest: ``{a|{b|c}}``.
* ``\\{``, ``\\}`` and ``\\|`` write a brace or a bar as text. Any other brace is an error, so a
  mistyped ``{Имя}`` is refused rather than sent literally to thousands of clients. A ``|``
  outside braces is ordinary text.

``{{`` opens a placeholder (``{{{ Имя }}, |}`` is variants starting with one), so a variant
group cannot begin with a nested group: write ``{c|{a|b}}``, not ``{{a|b}|c}``. Contact values
are inserted verbatim, never parsed.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal, NamedTuple, TypeAlias

from .formats import TEMPLATE_FORMATS, PatternError, template_format
from .i18n import N_, UserError

MAX_MESSAGE_LENGTH = 4096
MAX_NESTING = 10

_TOKENS = re.compile(
    r"""
      (?P<field>    \{\{ [^{}]* \}\} )                       # {{ Column | fallback }}
    | (?P<open>     \{ (?= \{\{ [^{}]* \}\} ) | \{ (?! \{ ) )  # a variant group's {
    | (?P<unclosed> \{\{ )                                  # {{ with no }} to close it
    | \\ (?P<escape> [{}|] )                                # \{ \} \|
    | (?P<close>    \} )
    | (?P<bar>      \| )
    | (?P<text>     [^\\{}|]+ | \\ )
    """,
    re.VERBOSE,
)

Params: TypeAlias = dict[str, str | int]
WarningCode: TypeAlias = Literal["empty_value", "not_formatted", "too_long"]


class TemplateError(UserError, ValueError):
    """A template refused by ``MessageTemplate.parse``; ``message % params`` says what and where."""

    def __init__(
        self,
        message: str,
        params: Params,
        *,
        position: int,
        line: int,
        column: int,
        known_columns: list[str],
    ) -> None:
        super().__init__(message, params)
        self.position = position  # 0-based character offset into the template text
        self.line = line  # 1-based
        self.column = column  # 1-based, in characters
        self.known_columns = known_columns


@dataclass(frozen=True, slots=True)
class RenderWarning:
    """Something the sender should check in one rendered message; ``message % params`` says what."""

    code: WarningCode
    message: str
    params: Params

    def __str__(self) -> str:
        return self.message % self.params


class RenderedMessage(NamedTuple):
    """The text to send to one contact, with the warnings to show in its preview."""

    text: str
    warnings: tuple[RenderWarning, ...] = ()

    @property
    def length(self) -> int:
        """Characters (Unicode code points) counted against ``MAX_MESSAGE_LENGTH``."""
        return len(self.text)


@dataclass(frozen=True, slots=True)
class _Field:
    column: str
    fallback: str | None
    show: Callable[[str], str | None] | None = None  # the format, if any
    kind: str = ""  # the format's kind: date, time or number


@dataclass(frozen=True, slots=True)
class _Choice:
    options: tuple[tuple[_Part, ...], ...]
    salt: bytes  # the group's offset in the template, so groups vary independently


_Part: TypeAlias = "str | _Field | _Choice"


@dataclass(frozen=True, slots=True)
class MessageTemplate:
    """A parsed template; parse it once per campaign and render it for every contact."""

    text: str
    columns_used: tuple[str, ...]
    _parts: tuple[_Part, ...] = field(repr=False, compare=False)

    @classmethod
    def parse(cls, text: str, columns: Sequence[str]) -> MessageTemplate:
        """Compile ``text`` against a list's column headers; raise ``TemplateError`` if invalid."""
        parser = _Parser(text, columns)
        parts = parser.parse()
        return cls(text, tuple(parser.used), parts)

    def render(self, fields: Mapping[str, str], seed: str) -> RenderedMessage:
        """Fill in one contact's ``{header: value}``; ``seed`` (campaign + phone) picks variants."""
        out: list[str] = []
        problems: list[RenderWarning] = []
        _emit(self._parts, fields, seed.encode(), out, problems)
        text = "".join(out)
        if problems or len(text) > MAX_MESSAGE_LENGTH:
            return RenderedMessage(text, _warnings(text, problems))
        return RenderedMessage(text)


_NOT_FORMATTED = {
    "date": N_('"%(value)s" in column "%(column)s" is not a date; it is sent as it is.'),
    "time": N_('"%(value)s" in column "%(column)s" is not a time; it is sent as it is.'),
    "number": N_('"%(value)s" in column "%(column)s" is not a number; it is sent as it is.'),
}


def _warnings(text: str, problems: list[RenderWarning]) -> tuple[RenderWarning, ...]:
    # Each once, in order: a column used twice warns once.
    unique = {(w.code, w.message, tuple(w.params.items())): w for w in reversed(problems)}
    warnings = list(reversed(unique.values()))
    if len(text) > MAX_MESSAGE_LENGTH:
        message = N_("The message has %(length)s characters; WhatsApp allows %(limit)s.")
        params: Params = {"length": len(text), "limit": MAX_MESSAGE_LENGTH}
        warnings.append(RenderWarning("too_long", message, params))
    return tuple(warnings)


def _emit(
    parts: tuple[_Part, ...],
    fields: Mapping[str, str],
    seed: bytes,
    out: list[str],
    problems: list[RenderWarning],
) -> None:
    for part in parts:
        if type(part) is str:
            out.append(part)
        elif type(part) is _Field:
            value = fields.get(part.column) or ""
            if value.strip():
                shown = part.show(value) if part.show else value
                if shown is None:
                    shown = value
                    params: Params = {"value": value.strip(), "column": part.column}
                    problems.append(
                        RenderWarning("not_formatted", _NOT_FORMATTED[part.kind], params)
                    )
                out.append(shown)
            elif part.fallback is not None:
                out.append(part.fallback)
            else:
                message = N_('Empty value for column "%(column)s".')
                problems.append(RenderWarning("empty_value", message, {"column": part.column}))
        else:
            digest = hashlib.blake2b(seed, digest_size=8, salt=part.salt).digest()
            option = part.options[int.from_bytes(digest, "big") % len(part.options)]
            _emit(option, fields, seed, out, problems)


# After a bar: a format's name, maybe with a "pattern" (a word with one is always a format).
_FORMAT = re.compile(r'^\s*(?P<name>[^\W\d_]+)\s*(?:"(?P<pattern>[^"]*)")?\s*$')
_FORMAT_KINDS = TEMPLATE_FORMATS | {"date": "date", "time": "time", "number": "number"}
_FORMAT_NAMES = ", ".join(TEMPLATE_FORMATS)
_BAR_OUTSIDE_QUOTES = re.compile(r'\|(?=(?:[^"]*"[^"]*")*[^"]*$)')  # an even number of " after it


def _split_bars(content: str) -> list[str]:
    """A placeholder's parts between bars; a bar inside a "pattern" belongs to the pattern."""
    return _BAR_OUTSIDE_QUOTES.split(content)


def _normalize(name: str) -> str:
    return " ".join(name.split()).casefold()


class _Parser:
    """Recursive descent over the template's tokens; errors point at the leftmost problem."""

    def __init__(self, text: str, columns: Sequence[str]) -> None:
        self.text = text
        self.columns = list(columns)
        self.tokens = [(m.lastgroup, m[m.lastgroup], m.start()) for m in _TOKENS.finditer(text)]
        self.index = 0
        self.used: dict[str, None] = {}  # an ordered set of the real headers used

    def parse(self) -> tuple[_Part, ...]:
        parts = self.sequence(0)
        if self.index < len(self.tokens):
            raise self.error(
                N_(
                    'Unexpected "}" at line %(line)s, character %(char)s. '
                    "To send a brace as text, type \\}."
                ),
                self.tokens[self.index][2],
            )
        return parts

    def sequence(self, depth: int) -> tuple[_Part, ...]:
        parts: list[_Part] = []
        while self.index < len(self.tokens):
            kind, value, position = self.tokens[self.index]
            if kind == "close" or (kind == "bar" and depth):
                break
            self.index += 1
            if kind == "field":
                parts.append(self.field(value[2:-2], position))
            elif kind == "open":
                parts.append(self.choice(position, depth + 1))
            elif kind == "unclosed":
                raise self.error(
                    N_(
                        '"{{" at line %(line)s, character %(char)s is not closed with "}}"; '
                        "a placeholder holds a column name only, without braces."
                    ),
                    position,
                )
            elif parts and isinstance(parts[-1], str):
                parts[-1] += value
            else:
                parts.append(value)
        return tuple(parts)

    def choice(self, start: int, depth: int) -> _Choice:
        if depth > MAX_NESTING:
            raise self.error(
                N_(
                    "Variants at line %(line)s, character %(char)s are nested more than "
                    "%(limit)s levels deep."
                ),
                start,
                limit=MAX_NESTING,
            )
        options = [self.sequence(depth)]
        while self.index < len(self.tokens):
            kind = self.tokens[self.index][0]
            self.index += 1
            if kind == "bar":
                options.append(self.sequence(depth))
            elif len(options) > 1:
                return _Choice(tuple(options), start.to_bytes(8, "big"))
            else:
                raise self.error(
                    N_(
                        'The braces at line %(line)s, character %(char)s hold no "|". Write '
                        "variants as {first|second} and a column as {{ Column }}; to send a "
                        "brace as text, type \\{ or \\}."
                    ),
                    start,
                )
        raise self.error(
            N_(
                '"{" at line %(line)s, character %(char)s is not closed with "}". Variants are '
                "written {first|second}; to send a brace as text, type \\{."
            ),
            start,
        )

    def field(self, content: str, position: int) -> _Field:
        name, *segments = _split_bars(content)
        if not name.strip():
            raise self.error(
                N_(
                    "Empty placeholder at line %(line)s, character %(char)s: write a column "
                    "name between {{ and }}. Known columns: %(columns)s."
                ),
                position,
            )
        show, kind = self.format(segments[0], position) if segments else (None, "")
        if len(segments) > (2 if show else 1):
            raise self.error(
                N_(
                    'The placeholder at line %(line)s, character %(char)s has more than one "|"; '
                    "write {{ Column | text if empty }} or {{ Column | format | text if empty }}. "
                    "Formats: %(formats)s. Known columns: %(columns)s."
                ),
                position,
                formats=_FORMAT_NAMES,
            )
        column = self.lookup(" ".join(name.split()), position)
        self.used[column] = None
        fallback = segments[-1].strip() if len(segments) > (1 if show else 0) else None
        return _Field(column, fallback, show, kind)

    def format(self, segment: str, position: int) -> tuple[Callable[[str], str | None] | None, str]:
        """The format a segment after "|" names, or (None, "") when it is a fallback."""
        match = _FORMAT.match(segment)
        if not match:
            return None, ""
        name, pattern = match["name"].casefold(), match["pattern"]
        kind = _FORMAT_KINDS.get(name)
        if kind is None:
            if pattern is None:
                return None, ""  # a one-word fallback
            raise self.error(
                N_(
                    'Unknown format "%(name)s" at line %(line)s, character %(char)s. '
                    "Formats: %(formats)s."
                ),
                position,
                name=match["name"],
                formats=_FORMAT_NAMES,
            )
        try:
            return template_format(kind, pattern), kind
        except PatternError:
            raise self.error(
                N_(
                    'The pattern "%(pattern)s" at line %(line)s, character %(char)s cannot be '
                    'used: write a date as "ДД.ММ.ГГГГ" or "D MMMM", a time as "ЧЧ:ММ", '
                    'a number as "# ##0,00"; put other text in single quotes.'
                ),
                position,
                pattern=pattern or "",
            ) from None

    def lookup(self, name: str, position: int) -> str:
        if name in self.columns:
            return name
        matches = [c for c in self.columns if _normalize(c) == _normalize(name)]
        if len(matches) == 1:
            return matches[0]
        if matches:
            raise self.error(
                N_(
                    '"%(name)s" at line %(line)s, character %(char)s matches several columns '
                    "(%(matches)s); write the name exactly as in the file."
                ),
                position,
                name=name,
                matches=", ".join(f'"{c}"' for c in matches),
            )
        raise self.error(
            N_(
                'Unknown column "%(name)s" at line %(line)s, character %(char)s. '
                "Known columns: %(columns)s."
            ),
            position,
            name=name,
        )

    def error(self, message: str, position: int, **params: str | int) -> TemplateError:
        line = self.text.count("\n", 0, position) + 1
        char = position - self.text.rfind("\n", 0, position)
        columns = ", ".join(f'"{c}"' for c in self.columns)
        return TemplateError(
            message,
            {"line": line, "char": char, "columns": columns, **params},
            position=position,
            line=line,
            column=char,
            known_columns=list(self.columns),
        )
