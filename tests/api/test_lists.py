import io

from tests.web.test_lists import RUSSIAN_EXCEL_CSV
from webapp.extensions import db
from webapp.models import ContactList


def post_list(api, data: bytes = RUSSIAN_EXCEL_CSV, filename: str = "clients.csv", **form):
    return api.post(
        "/api/v1/lists",
        data={"file": (io.BytesIO(data), filename), **form},
        content_type="multipart/form-data",
    )


def test_import_returns_the_contract_summary(api):
    response = post_list(api, name="Клиенты")
    assert response.status_code == 201
    body = response.json
    assert {k: body[k] for k in ("name", "contacts", "invalid", "duplicates", "phone_column")} == {
        "name": "Клиенты",
        "contacts": 3,
        "invalid": 1,
        "duplicates": 1,
        "phone_column": "Телефон",
    }
    assert body["columns"] == ["ФИО", "Телефон", "Город"]


def test_contacts_and_rejects_are_paged(api):
    list_id = post_list(api).json["id"]
    contacts = api.get(f"/api/v1/lists/{list_id}/contacts?per_page=2").json
    assert contacts["total"] == 3 and len(contacts["items"]) == 2
    assert contacts["items"][0] == {
        "phone": "79243555100",
        "fields": {"ФИО": "Иванов Иван", "Город": "Москва"},
    }
    rejects = api.get(f"/api/v1/lists/{list_id}/rejects").json["items"]
    rows = {(r["row"], r["value"], r["kind"]) for r in rejects}
    assert rows == {(4, "89243555100", "duplicate"), (6, "не знаю", "invalid")}


def test_explicit_phone_column_that_does_not_exist_is_422(api, app):
    response = post_list(api, phone_column="Mobile")
    assert response.status_code == 422 and "Mobile" in response.json["error"]
    with app.app_context():
        assert db.session.query(ContactList).count() == 0


def test_missing_file_is_400_and_unknown_type_is_415(api):
    assert api.post("/api/v1/lists", data={}, content_type="multipart/form-data").status_code == 400
    assert post_list(api, b"PK\x03\x04 not really", "list.pdf").status_code == 415


def test_upload_over_the_limit_is_413(app, api):
    app.config["MAX_CONTENT_LENGTH"] = 1024 * 1024
    response = post_list(api, RUSSIAN_EXCEL_CSV * 10_000)
    assert response.status_code == 413 and response.is_json
    assert response.json["error"] == "Файл больше 1 МБ. Разделите его или удалите лишние столбцы."


def test_list_summary_listing_and_delete(api):
    list_id = post_list(api).json["id"]
    assert api.get("/api/v1/lists").json["total"] == 1
    assert api.get(f"/api/v1/lists/{list_id}").json["contacts"] == 3
    assert api.delete(f"/api/v1/lists/{list_id}").status_code == 204
    assert api.get(f"/api/v1/lists/{list_id}").status_code == 404


def test_opt_outs_api(api):
    response = api.post("/api/v1/opt-outs", json={"phones": ["+7 924 355-51-00"], "note": "CRM"})
    assert response.status_code == 201 and response.json["phones"] == ["79243555100"]
    invalid = api.post("/api/v1/opt-outs", json={"phones": ["12345"]})
    assert invalid.status_code == 422 and invalid.json["invalid"][0]["value"] == "12345"
    assert api.get("/api/v1/opt-outs").json["items"][0]["phone"] == "79243555100"
    assert post_list(api).json["opted_out"] == 1
    assert api.delete("/api/v1/opt-outs/79243555100?reason=asked").status_code == 204
    assert api.get("/api/v1/opt-outs").json["total"] == 0


def test_openapi_documents_the_list_endpoints(client):
    paths = client.get("/api/v1/openapi.json").json["paths"]
    assert {"/lists", "/lists/{list_id}", "/lists/{list_id}/contacts", "/opt-outs"} <= set(paths)
