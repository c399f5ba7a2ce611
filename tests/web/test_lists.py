import io
import re

import pytest

from webapp.extensions import db
from webapp.models import Contact, ContactList, OptOut

RUSSIAN_EXCEL_CSV = (
    "ФИО;Телефон;Город\r\n"
    "Иванов Иван;+7 (924) 355-51-00;Москва\r\n"
    "Петрова Анна;8 924 355 51 01;Казань\r\n"
    "Дубль;89243555100;Москва\r\n"
    "<script>alert(1)</script>;9243555102;Тверь\r\n"
    "Без номера;не знаю;Омск\r\n"
).encode("cp1251")


def upload(client, data: bytes = RUSSIAN_EXCEL_CSV, filename: str = "клиенты.csv"):
    return client.post(
        "/lists/new",
        data={"file": (io.BytesIO(data), filename)},
        content_type="multipart/form-data",
    )


def test_upload_then_map_shows_detected_column_encoding_and_first_rows(admin_client):
    response = upload(admin_client)
    assert response.status_code == 302
    page = admin_client.get(response.headers["Location"]).get_data(as_text=True)
    assert "cp1251" in page
    assert "<option selected>Телефон</option>" in page
    assert "Петрова Анна" in page
    assert "<script>alert(1)</script>" not in page  # contact data is shown as text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_confirming_the_mapping_imports_and_reports(admin_client, app):
    mapping_url = upload(admin_client).headers["Location"]
    response = admin_client.post(mapping_url, data={"name": "Клиенты", "phone_column": "Телефон"})
    assert response.status_code == 302
    report = admin_client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Список загружен: 3 контакта." in report  # the plural form for 3
    assert "дубликат" in report.lower() or "Дубликаты" in report
    assert "&lt;script&gt;" in report and "<script>alert" not in report
    with app.app_context():
        stored = db.session.scalar(db.select(ContactList))
        assert stored.name == "Клиенты"
        phones = set(db.session.scalars(db.select(Contact.phone)))
    assert phones == {"79243555100", "79243555101", "79243555102"}
    # the upload is gone once imported
    assert admin_client.get(mapping_url).status_code == 302


def test_a_bad_file_gets_a_clear_message_and_nothing_is_stored(admin_client, app):
    response = upload(admin_client, b"\x00\x01garbage" * 100, "list.xlsx")
    page = admin_client.get(response.headers["Location"], follow_redirects=True)
    assert page.status_code == 415
    text = page.get_data(as_text=True)
    assert re.search(r'alert-danger"[^>]*>\s*<strong>list.xlsx</strong>: ', text)
    assert "Выберите другой файл или исправьте этот и загрузите его снова." in text
    with app.app_context():
        assert db.session.query(ContactList).count() == 0


def test_uploads_belong_to_their_uploader(admin_client, client, app, member):
    mapping_url = upload(admin_client).headers["Location"]
    other = app.test_client()
    other.post("/login", data={"email": "member@example.com", "password": "correct horse battery"})
    assert other.get(mapping_url).status_code == 302  # not found for them: back to upload


@pytest.fixture
def imported(admin_client):
    mapping_url = upload(admin_client).headers["Location"]
    location = admin_client.post(mapping_url, data={"phone_column": "Телефон"}).headers["Location"]
    return int(re.search(r"/lists/(\d+)", location).group(1))


def test_list_page_searches_and_downloads_rejects(admin_client, imported):
    page = admin_client.get(f"/lists/{imported}?q=Казань").get_data(as_text=True)
    assert "Петрова Анна" in page and "Иванов Иван" not in page
    rejects = admin_client.get(f"/lists/{imported}/rejects.csv")
    text = rejects.data.decode("utf-8")
    assert text.startswith("\ufeff") and text.count("\ufeff") == 1
    assert "не знаю" in text and ";" in text


def test_the_first_rejected_rows_show_with_their_reasons_under_the_counts(admin_client, imported):
    page = admin_client.get(f"/lists/{imported}").get_data(as_text=True)
    shown = page[
        page.index("data-rejects") : page.index("<details") if "<details" in page else None
    ]
    assert "не знаю" in shown and "89243555100" in shown  # not folded away
    assert "не номер телефона" in shown and "повтор строки выше" in shown


def test_many_rejected_rows_show_the_first_ten_and_fold_the_rest(admin_client):
    rows = [f"Клиент {n};не знаю {n}" for n in range(15)] + ["Анна;+7 924 355-51-00"]
    data = ("ФИО;Телефон\r\n" + "\r\n".join(rows)).encode("cp1251")
    mapping_url = upload(admin_client, data).headers["Location"]
    report = admin_client.post(mapping_url, data={"phone_column": "Телефон"}, follow_redirects=True)
    page = report.get_data(as_text=True)
    shown, folded = page[page.index("data-rejects") :].split("<details", 1)
    assert "Незагруженные строки (15)" in shown
    assert [f"не знаю {n}<" in shown for n in range(15)] == [True] * 10 + [False] * 5
    assert all(f"не знаю {n}<" in folded.split("</details>")[0] for n in range(10, 15))


def test_lists_index_and_delete(admin_client, imported, app):
    assert "клиенты.csv" in admin_client.get("/lists/").get_data(as_text=True)
    response = admin_client.post(f"/lists/{imported}/delete", follow_redirects=True)
    assert "Список удалён" in response.get_data(as_text=True)
    with app.app_context():
        assert db.session.query(Contact).count() == 0


def test_opt_outs_are_added_normalized_and_removed(admin_client, app):
    response = admin_client.post(
        "/opt-outs/add", data={"phones": "+7 924 355-51-00\n8(924)3555101"}, follow_redirects=True
    )
    assert "Добавлено в стоп-лист: 2" in response.get_data(as_text=True)
    with app.app_context():
        assert set(db.session.scalars(db.select(OptOut.phone))) == {"79243555100", "79243555101"}
    bad = admin_client.post("/opt-outs/add", data={"phones": "12"}, follow_redirects=True)
    assert "не добавлены" in bad.get_data(as_text=True).lower()
    admin_client.post("/opt-outs/79243555100/remove", data={"reason": "asked again"})
    with app.app_context():
        assert set(db.session.scalars(db.select(OptOut.phone))) == {"79243555101"}


def test_opted_out_numbers_are_left_out_of_imports(admin_client, app):
    admin_client.post("/opt-outs/add", data={"phones": "79243555101"})
    mapping_url = upload(admin_client).headers["Location"]
    admin_client.post(mapping_url, data={"phone_column": "Телефон"})
    with app.app_context():
        phones = set(db.session.scalars(db.select(Contact.phone)))
        assert db.session.scalar(db.select(ContactList.opted_out_count)) == 1
    assert "79243555101" not in phones
