"""The interface speaks Russian: every text people can see has a Russian translation, and a
text with a count has all three Russian plural forms (1 контакт, 2 контакта, 5 контактов)."""

import re
from pathlib import Path

import pytest
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parent.parent
CATALOG = ROOT / "webapp" / "translations" / "ru" / "LC_MESSAGES"
KEYWORDS = {**DEFAULT_KEYWORDS, "_l": None, "N_": None}
PLACEHOLDER = re.compile(r"%\((\w+)\)s")


def extracted_messages() -> set[str | tuple[str, str]]:
    """Every marked text: a string, or (singular, plural) for ngettext."""
    found = set()
    for folder, pattern, method in (
        ("webapp", "**.py", "python"),
        ("templates", "**.html", "jinja2"),
    ):
        for _, _, message, _, _ in extract_from_dir(
            ROOT / folder, [(pattern, method)], keywords=KEYWORDS
        ):
            found.add(message if isinstance(message, str) else tuple(message[:2]))
    return found


def singular(message_id: str | tuple) -> str:
    return message_id if isinstance(message_id, str) else message_id[0]


def forms(string: str | tuple | list) -> str | tuple:
    return string if isinstance(string, str) else tuple(string)


@pytest.fixture(scope="module")
def catalog():
    with open(CATALOG / "messages.po", "rb") as f:
        return read_po(f, locale="ru")


def test_every_user_visible_text_is_translated_to_russian(catalog):
    translated = {
        m.id if isinstance(m.id, str) else tuple(m.id)
        for m in catalog
        if m.id and m.string and not m.fuzzy
    }
    missing = sorted(map(str, extracted_messages() - translated))
    assert missing == [], "run scripts/translations and translate these:\n" + "\n".join(missing)


def test_every_count_has_all_three_russian_forms_with_its_placeholders(catalog):
    assert catalog.num_plurals == 3
    plurals = [m for m in catalog if m.id and m.pluralizable]
    assert plurals, "ngettext texts are extracted as plural entries"
    incomplete = [
        m.id[1]
        for m in plurals
        if len(m.string) != 3
        or any(PLACEHOLDER.findall(form) != PLACEHOLDER.findall(m.id[1]) for form in m.string)
    ]
    assert incomplete == [], "give each of these three Russian forms:\n" + "\n".join(incomplete)


def test_a_count_in_a_single_form_text_stands_after_a_colon_or_in_brackets(catalog):
    """ "Найдено: 21" reads well for any number; "21 контактов" does not: that needs ngettext."""
    bare_count = re.compile(r"(?<!: )(?<!\()%\((n|num|count)\)s")
    wrong = [m.id for m in catalog if isinstance(m.id, str) and bare_count.search(m.string or "")]
    assert wrong == [], "a number meets a noun here; use ngettext:\n" + "\n".join(wrong)


def test_compiled_catalog_matches_the_po_file(catalog):
    po = {singular(m.id): forms(m.string) for m in catalog if m.id and m.string and not m.fuzzy}
    with open(CATALOG / "messages.mo", "rb") as f:
        mo = {singular(m.id): forms(m.string) for m in read_mo(f) if m.id}
    assert mo == po, "run scripts/translations to recompile messages.mo"
