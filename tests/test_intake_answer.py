"""Intake answers a new lead from memory (no read-back after the commit, docs/performance.md): the answer must be
exactly what reading the lead back gives, on every path the demo has (each rule's actions, the autoresponses, the
fallback, a repeat lead, nobody), in English and in Polish."""

import json

import pytest

BODIES = {
    "student (disqualified, e-books)": {"email": "ala@uczelnia-x.example", "job_title": "Studentka", "source": "contact_form"},
    "free mail (disqualified)": {"email": "jan.k@gmail.com", "company": "JK", "source": "contact_form"},
    "account manager": {"email": "zakupy@pl.hutastal.example", "company": "Huta Stal", "source": "contact_form"},
    "awaria (rapid response, Slack)": {"email": "it@zaklad-y.example", "company": "Zakład Y", "message": "Mamy awarię linii", "source": "contact_form"},
    "enterprise (SMS)": {"email": "cfo@duza-firma.example", "company": "Duża", "company_size": 900, "source": "contact_form"},
    "German (tag)": {"email": "info@firma-de.example", "company": "Firma DE", "language": "de", "source": "contact_form"},
    "e-commerce (note)": {"email": "sklep@sklep-z.example", "company": "Sklep Z", "industry": "Sklep internetowy", "source": "contact_form"},
    "territory (task)": {"email": "biuro@katowice-q.example", "company": "Q", "region": "Śląskie", "source": "contact_form"},
    "demo request (pool, booking link)": {"email": "ceo@firma-demo.example", "company": "Demo", "source": "demo_request", "phone": "+48 600 100 200"},
    "webinar (juniors, webhook)": {"email": "m@webinar-w.example", "company": "W", "source": "webinar"},
    "fallback": {"email": "kontakt@nic-nie-pasuje.example", "company": "Nic", "source": "newsletter"},
}


def _post(api, body: dict, **headers) -> dict:
    response = api.post("/api/v1/leads/", data=json.dumps(body), content_type="application/json", **headers)
    assert response.status_code == 201, response.content
    return response.json()


@pytest.mark.parametrize("language", ["en", "pl"])
def test_a_new_leads_answer_is_what_reading_it_back_gives(api, demo, language):
    headers = {"HTTP_ACCEPT_LANGUAGE": language}
    for name, body in BODIES.items():
        answered = _post(api, body, **headers)
        read_back = api.get(f"/api/v1/leads/{answered['id']}/", **headers)
        assert read_back.status_code == 200, name
        assert answered == read_back.json(), name
        assert len(answered["events"]) >= 2, name  # received and the routing decision at least


def test_a_repeat_leads_answer_is_what_reading_it_back_gives(api, demo):
    body = {"email": "Powrot@Firma-Powrot.example", "company": "Powrót", "source": "demo_request"}
    first = _post(api, body)
    again = _post(api, {**body, "email": "powrot@firma-powrot.example", "message": "Jeszcze raz"})
    assert again["owner"] == first["owner"]
    assert again == api.get(f"/api/v1/leads/{again['id']}/").json()
    notified = [event for event in again["events"] if event["type"] == "notification"]
    assert notified, again["events"]
