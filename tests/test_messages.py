"""Message templates as the sender sees them: what gets sent, what gets refused, and why."""

from collections.abc import Mapping

import pytest

from webapp.messages import (
    MAX_MESSAGE_LENGTH,
    MAX_NESTING,
    MessageTemplate,
    RenderWarning,
    TemplateError,
)

COLUMNS = ["Телефон", "Имя", "Дата визита", "Скидка"]
ANNA = {"Телефон": "+79161234567", "Имя": "Анна", "Дата визита": "12.05", "Скидка": "10%"}


def render(text: str, fields: Mapping[str, str] = ANNA, seed: str = "1:+79161234567") -> str:
    return MessageTemplate.parse(text, COLUMNS).render(fields, seed).text


def parse_error(text: str) -> TemplateError:
    with pytest.raises(TemplateError) as caught:
        MessageTemplate.parse(text, COLUMNS)
    return caught.value


def test_placeholders_are_filled_with_the_contacts_values():
    text = "Здравствуйте, {{ Имя }}! Ждём вас {{ Дата визита }}, скидка {{ Скидка }}."
    assert render(text) == "Здравствуйте, Анна! Ждём вас 12.05, скидка 10%."


@pytest.mark.parametrize(
    ("placeholder", "header"),
    [
        ("{{имя}}", "Имя"),
        ("{{ Имя }}", "Имя"),
        ("{{ ИМЯ  }}", "Имя"),
        ("{{ дата  визита }}", "Дата визита"),
        ("{{\tДАТА\nВизита }}", "Дата визита"),
        ("{{ телефон }}", "Телефон"),
    ],
)
def test_column_names_match_ignoring_case_and_spaces(placeholder, header):
    template = MessageTemplate.parse(f"-> {placeholder}", COLUMNS)
    assert template.columns_used == (header,)
    assert template.render(ANNA, "seed").text == f"-> {ANNA[header]}"


def test_columns_used_lists_real_headers_once_in_order():
    template = MessageTemplate.parse("{{ скидка }} {{имя}} {{ Скидка }} {a|{{ телефон }}}", COLUMNS)
    assert template.columns_used == ("Скидка", "Имя", "Телефон")


def test_an_exact_header_wins_over_a_case_insensitive_twin():
    columns = ["Имя", "ИМЯ"]
    fields = {"Имя": "Анна", "ИМЯ": "АННА"}
    assert MessageTemplate.parse("{{ИМЯ}}", columns).render(fields, "s").text == "АННА"
    with pytest.raises(TemplateError, match='matches several columns \\("Имя", "ИМЯ"\\)'):
        MessageTemplate.parse("{{ имя }}", columns)


@pytest.mark.parametrize("value", ["", "   ", "\t\n", None])
def test_fallback_replaces_an_empty_value(value):
    template = MessageTemplate.parse("Здравствуйте, {{ Имя | клиент }}!", COLUMNS)
    message = template.render({} if value is None else {"Имя": value}, "s")
    assert message.text == "Здравствуйте, клиент!"
    assert message.warnings == ()


def test_fallback_is_ignored_when_the_value_is_present():
    assert render("Здравствуйте, {{ Имя | дорогой клиент }}!") == "Здравствуйте, Анна!"


def test_empty_fallback_leaves_the_value_blank_without_a_warning():
    message = MessageTemplate.parse("Анна{{ Скидка | }}!", COLUMNS).render({"Скидка": ""}, "s")
    assert (message.text, message.warnings) == ("Анна!", ())


def test_empty_value_without_fallback_warns_once_per_column():
    template = MessageTemplate.parse("{{ Имя }}, {{ имя }}, ваша скидка {{ Скидка }}", COLUMNS)
    message = template.render({"Имя": " ", "Скидка": "5%"}, "s")
    assert message.text == ", , ваша скидка 5%"
    assert message.warnings == (
        RenderWarning("empty_value", 'Empty value for column "%(column)s".', {"column": "Имя"}),
    )
    assert str(message.warnings[0]) == 'Empty value for column "Имя".'


def test_same_seed_always_gives_the_same_text():
    template = MessageTemplate.parse("{Здравствуйте|Добрый день|Привет}, {{ Имя }}!", COLUMNS)
    reparsed = MessageTemplate.parse(template.text, COLUMNS)
    for n in range(50):
        seed = f"7:+7916000{n:04d}"
        assert template.render(ANNA, seed) == reparsed.render(dict(ANNA), seed)


def test_different_seeds_use_every_variant():
    template = MessageTemplate.parse("{Здравствуйте|Добрый день|Привет}", COLUMNS)
    texts = [template.render(ANNA, f"7:{n}").text for n in range(300)]
    assert set(texts) == {"Здравствуйте", "Добрый день", "Привет"}
    assert min(texts.count(t) for t in set(texts)) > 50  # roughly even, none neglected


def test_groups_vary_independently():
    template = MessageTemplate.parse("{a|b}{c|d}", COLUMNS)
    assert {template.render(ANNA, str(n)).text for n in range(100)} == {"ac", "ad", "bc", "bd"}


def test_variants_nest():
    template = MessageTemplate.parse("{Привет|{Здравствуйте|Добрый день}}, {{ Имя }}", COLUMNS)
    texts = {template.render(ANNA, str(n)).text for n in range(200)}
    assert texts == {"Привет, Анна", "Здравствуйте, Анна", "Добрый день, Анна"}


def test_variants_keep_their_spaces_and_may_be_empty_or_hold_placeholders():
    template = MessageTemplate.parse("{{{ Имя }}, |}спасибо!", COLUMNS)
    texts = {template.render(ANNA, str(n)).text for n in range(50)}
    assert texts == {"Анна, спасибо!", "спасибо!"}


def test_variant_choice_is_stable_across_processes_and_python_versions():
    # Pinned outputs: a change here means previews already shown would differ from what is sent.
    template = MessageTemplate.parse("{a|b|c}{d|e}", COLUMNS)
    texts = [template.render(ANNA, f"campaign-1:+7916{n:07d}").text for n in range(8)]
    assert texts == ["be", "ce", "be", "ce", "ce", "cd", "cd", "ad"]


def test_backslash_writes_braces_and_bars_as_text():
    texts = {render(r"\{{{ Имя }}\} {да\|нет|ок} 50|50", seed=str(n)) for n in range(20)}
    assert texts == {"{Анна} да|нет 50|50", "{Анна} ок 50|50"}
    assert render(r"¯\_(ツ)_/¯ C:\папка") == r"¯\_(ツ)_/¯ C:\папка"


def test_unknown_column_is_refused_with_its_position_and_the_known_columns():
    error = parse_error("Здравствуйте!\nВаш врач: {{ Врач }}.")
    assert (error.position, error.line, error.column) == (24, 2, 11)
    assert error.known_columns == COLUMNS
    assert str(error) == (
        'Unknown column "Врач" at line 2, character 11. '
        'Known columns: "Телефон", "Имя", "Дата визита", "Скидка".'
    )


@pytest.mark.parametrize(
    ("text", "char", "problem"),
    [
        ("Привет, {{ Имя", 9, 'is not closed with "}}"'),
        ("Привет, {{ Имя }!", 9, 'is not closed with "}}"'),
        ("Привет, {{{ Имя }}}", 9, 'hold no "|"'),
        ("{{a|b}|c}", 1, 'is not closed with "}}"'),
        ("Привет, {Имя}!", 9, 'hold no "|"'),
        ("{Привет|Здравствуйте, {{ Имя }}", 1, 'is not closed with "}"'),
        ("Привет} {{ Имя }}", 7, 'Unexpected "}"'),
        ("{a|b}}", 6, 'Unexpected "}"'),
        ("Привет, {{  }}!", 9, "Empty placeholder"),
        ("Привет, {{ | клиент }}!", 9, "Empty placeholder"),
        ("Привет, {{ Имя | a | b }}!", 9, 'more than one "|"'),
        ("{a|" * (MAX_NESTING + 1) + "b" + "}" * (MAX_NESTING + 1), 3 * MAX_NESTING + 1, "nested"),
    ],
)
def test_malformed_templates_are_refused_with_the_position(text, char, problem):
    error = parse_error(text)
    assert problem in str(error)
    assert (error.line, error.column, error.position) == (1, char, char - 1)
    assert f"line 1, character {char}" in str(error)


def test_brace_errors_explain_how_to_write_a_brace_as_text():
    assert r"type \{" in str(parse_error("Скидка {10%}"))
    assert r"type \}" in str(parse_error("Смайлик :-}"))


@pytest.mark.parametrize(
    "text",
    [
        "{{ ''.__class__ }}",
        "{{ x.__init__ }}",
        "{{ 7*7 }}",
        "{{ Имя.upper() }}",
        "{{ config }}",
        "{{ Имя }}{% for x in range(9) %}x{% endfor %}",
        "{# comment #}",
        "${7*7}",
        "{0.__class__}",
        "{Имя!r}",
    ],
)
def test_code_in_a_template_is_refused_never_run(text):
    assert "49" not in str(parse_error(text))


def test_filter_like_fallback_is_plain_text():
    message = MessageTemplate.parse("{{ Имя | upper() }}", COLUMNS).render({"Имя": ""}, "s")
    assert message.text == "upper()"


def test_percent_formatting_in_a_template_is_plain_text():
    assert render("Скидка %(Имя)s {{ Скидка }} %s") == "Скидка %(Имя)s 10% %s"


def test_contact_values_are_inserted_verbatim_never_parsed():
    value = "{{ Имя }} {a|b} \\{ %(x)s {{ ''.__class__ }} {% if %}"
    assert render("Имя: {{ Имя }}", {"Имя": value}) == f"Имя: {value}"


def test_cyrillic_and_emoji_are_kept_and_counted_as_one_character_each():
    message = MessageTemplate.parse("{{ Имя }}, с праздником! 🎉🌷", COLUMNS).render(ANNA, "s")
    assert message.text == "Анна, с праздником! 🎉🌷"
    assert message.length == 22


def test_a_message_over_the_whatsapp_limit_is_flagged():
    template = MessageTemplate.parse("Ж{{ Имя }}", COLUMNS)
    at_limit = template.render({"Имя": "ж" * (MAX_MESSAGE_LENGTH - 1)}, "s")
    over = template.render({"Имя": "ж" * MAX_MESSAGE_LENGTH}, "s")
    assert (at_limit.length, at_limit.warnings) == (4096, ())
    assert [w.code for w in over.warnings] == ["too_long"]
    assert str(over.warnings[0]) == "The message has 4097 characters; WhatsApp allows 4096."


def test_texts_are_english_msgids_for_translation():
    error = parse_error("{{ Врач }}")
    assert error.message.startswith('Unknown column "%(name)s" at line %(line)s')
    assert error.message % error.params == str(error)
    assert isinstance(error, ValueError)


VISIT = {"Имя": "Анна", "Дата визита": "2026-12-05 09:30:00", "Скидка": "1500.5"}


@pytest.mark.parametrize(
    ("text", "sent"),
    [
        ("{{ Дата визита | дата }}", "05.12.2026"),
        ('{{ Дата визита | дата "D MMMM" }}', "5 декабря"),
        ('{{ Дата визита | ДАТА "ДД.ММ.ГГ" }}', "05.12.26"),
        ("{{ дата визита|дата\"D MMMM YYYY 'г.'\" }}", "5 декабря 2026 г."),
        ("{{ Дата визита | время }}", "09:30"),
        ("{{ Скидка | число }}", "1 500,50"),
        ('{{ Скидка | число "0" }}', "1501"),
        ('{{ Дата визита | date "D MMMM" }}', "5 декабря"),
        ('{{ Дата визита | дата "D|M" }}', "5|12"),  # a bar inside the pattern is the pattern's
    ],
)
def test_formats_reshow_a_value(text, sent):
    message = MessageTemplate.parse(text, COLUMNS).render(VISIT, "s")
    assert (message.text, message.warnings) == (sent, ())


def test_a_format_then_a_fallback():
    template = MessageTemplate.parse('{{ Дата визита | дата "D MMMM" | на днях }}', COLUMNS)
    assert template.render(VISIT, "s").text == "5 декабря"
    assert template.render({"Дата визита": " "}, "s") == ("на днях", ())


def test_a_one_word_fallback_is_still_a_fallback():
    template = MessageTemplate.parse("{{ Имя | клиент }}", COLUMNS)
    assert template.render({"Имя": ""}, "s").text == "клиент"
    assert template.render(ANNA, "s").text == "Анна"


def test_a_value_the_format_cannot_read_is_sent_as_it_is_with_a_warning():
    template = MessageTemplate.parse("{{ Имя | дата }} и {{ Имя | дата }}", COLUMNS)
    message = template.render(ANNA, "s")
    assert message.text == "Анна и Анна"
    assert [str(w) for w in message.warnings] == [
        '"Анна" in column "Имя" is not a date; it is sent as it is.'
    ]
    assert message.warnings[0].code == "not_formatted"


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ('{{ Дата визита | даты "D MMMM" }}', 'Unknown format "даты" at line 1, character 1.'),
        ('{{ Дата визита | upper "x" }}', 'Unknown format "upper"'),
        ('{{ Дата визита | дата "QQ" }}', 'The pattern "QQ" at line 1, character 1 cannot be used'),
        ('{{ Скидка | число "abc" }}', 'The pattern "abc"'),
        ('{{ Дата визита | дата "" }}', 'The pattern ""'),
        ("{{ Имя | клиент | дата }}", 'more than one "|"'),
        ("{{ Имя | дата | a | b }}", 'more than one "|"'),
    ],
)
def test_unknown_formats_and_patterns_are_refused(text, problem):
    error = parse_error(text)
    assert problem in str(error)
    assert "дата, время, число" in str(error) or "cannot be used" in str(error)
