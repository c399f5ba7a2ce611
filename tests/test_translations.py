"""The interface speaks Russian: every text people can see has a Russian translation."""

from pathlib import Path

from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parent.parent
CATALOG = ROOT / "webapp" / "translations" / "ru" / "LC_MESSAGES"
KEYWORDS = {**DEFAULT_KEYWORDS, "_l": None, "N_": None}


def extracted_messages() -> set[str]:
    found = set()
    for folder, pattern, method in (
        ("webapp", "**.py", "python"),
        ("templates", "**.html", "jinja2"),
    ):
        for _, _, message, _, _ in extract_from_dir(
            ROOT / folder, [(pattern, method)], keywords=KEYWORDS
        ):
            found.add(message if isinstance(message, str) else message[0])
    return found


def test_every_user_visible_text_is_translated_to_russian():
    with open(CATALOG / "messages.po", "rb") as f:
        catalog = read_po(f, locale="ru")
    # A plural entry (ngettext) is known by its singular, as extraction names it.
    translated = {
        m.id if isinstance(m.id, str) else m.id[0]
        for m in catalog
        if m.id and m.string and all(m.string) and not m.fuzzy
    }
    missing = sorted(extracted_messages() - translated)
    assert missing == [], "run scripts/translations and translate these:\n" + "\n".join(missing)


def test_compiled_catalog_matches_the_po_file():
    with open(CATALOG / "messages.po", "rb") as f:
        po = {
            _text(m.id): _text(m.string)
            for m in read_po(f, locale="ru")
            if m.id and m.string and not m.fuzzy
        }
    with open(CATALOG / "messages.mo", "rb") as f:
        mo = {_text(m.id): _text(m.string) for m in read_mo(f) if m.id}
    assert mo == po, "run scripts/translations to recompile messages.mo"


def _text(value: str | tuple | list) -> str | tuple:
    """A message's text, or its plural forms as a tuple (the .mo reader gives lists)."""
    return value if isinstance(value, str) else tuple(value)
