from tests.campaigns.conftest import NAMES, PHONES
from webapp.campaigns import service
from webapp.campaigns.rendering import render_seed
from webapp.messages import MessageTemplate

TEMPLATE = "{Привет|Здравствуйте|Добрый день}, {{ Имя }}! {Ждём|Приходите} {сегодня|завтра}."


def test_the_seed_is_campaign_and_phone():
    assert render_seed(7, "79243555100") == "7:79243555100"


def test_the_preview_is_what_the_template_renders_with_the_senders_seed(session, new_campaign):
    campaign_id = new_campaign(template=TEMPLATE)
    page = service.preview(session, campaign_id, limit=10, offset=0)
    template = MessageTemplate.parse(TEMPLATE, ["Телефон", "Имя"])
    expected = [
        template.render({"Телефон": phone, "Имя": name}, f"{campaign_id}:{phone}")
        for phone, name in zip(PHONES, NAMES, strict=True)
    ]
    assert [item.phone for item in page.items] == PHONES
    assert [item.message for item in page.items] == expected
    assert page.total == 4
    # The same every time: what people approve is what is sent.
    assert service.preview(session, campaign_id, limit=10, offset=0) == page


def test_the_preview_pages_and_flags_empty_values_and_opted_out_numbers(session, new_campaign):
    campaign_id = new_campaign(template="Привет, {{ Имя }}! Ваш номер {{ Телефон }}")
    page = service.preview(session, campaign_id, limit=2, offset=1)
    assert [(item.phone, item.message.text) for item in page.items] == [
        (PHONES[1], f"Привет, ! Ваш номер {PHONES[1]}"),
        (PHONES[2], f"Привет, Олег! Ваш номер {PHONES[2]}"),
    ]
    assert [w.code for w in page.items[0].message.warnings] == ["empty_value"]
    assert [item.opted_out for item in page.items] == [False, True]
