"""Lead text is escaped for every channel's markup (issue 13): a prospect cannot plant links, mentions or markup.

Slack mrkdwn: & < > escaped, so "<http://evil|text>" and "<!channel>" are shown, not obeyed. Teams Adaptive
Cards: lead text only in TextRuns (never Markdown). Teams connector cards (legacy): Markdown and HTML escaped.
E-mail: plain text only.
"""

import json

import pytest
from django.core import mail
from django.utils import timezone

from notifications.delivery import email_send, slack_body, teams_body, teams_markdown_escape
from notifications.models import Channel, OutboxMessage
from notifications.services import escalation_notify
from routing.models import LeadEvent
from tests.factories import LeadFactory

LINK = "[Open the lead](http://evil.example/login)"
SLACK_LINK = "<http://evil.example/login|Open the lead>"
HOSTILE = {
    "first_name": f"Zofia {SLACK_LINK}",
    "last_name": "<!channel> <@U0ADMIN>",
    "company": f"Fabryka {LINK} & Co",
    "job_title": "**CEO** _now_ <b>bold</b>",
    "message": f"Please click {LINK} or {SLACK_LINK} <!here>",
}


def composed_message(channel_name: str, django_capture_on_commit_callbacks) -> OutboxMessage:
    lead = LeadFactory(priority="critical", **HOSTILE)
    event = LeadEvent.objects.create(lead=lead, type=LeadEvent.Type.ESCALATED, at=timezone.now())
    with django_capture_on_commit_callbacks(execute=False):
        escalation_notify(lead=lead, kind="notify_channel", rep=None, channel=Channel.objects.get(name=channel_name), event=event)
    return OutboxMessage.objects.filter(lead=lead).get()


def mrkdwn_texts(body: dict) -> list[str]:
    found = [body["text"]]

    def walk(node):
        if isinstance(node, dict):
            if node.get("type") == "mrkdwn":
                found.append(node["text"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(body)
    return found


def test_lead_text_reaches_the_cards_at_all(demo, django_capture_on_commit_callbacks):
    message = composed_message("Slack #sales-alerts", django_capture_on_commit_callbacks)
    assert "evil.example" in json.dumps(message.payload), "the test must carry hostile text into the message"


@pytest.mark.django_db
class TestSlack:
    def test_no_planted_link_mention_or_broadcast_is_live_in_any_mrkdwn_text(self, demo, django_capture_on_commit_callbacks):
        message = composed_message("Slack #sales-alerts", django_capture_on_commit_callbacks)
        body = slack_body(message)
        texts = mrkdwn_texts(body)
        joined = "\n".join(texts)
        assert "evil.example" in joined, "the text is shown..."
        for live in ("<http://evil", "<!channel>", "<!here>", "<@U0ADMIN>", "<b>"):
            assert live not in joined, live
        assert "&lt;http://evil.example/login|Open the lead&gt;" in joined
        # The only live links are our own: the lead in the back office.
        for text in texts:
            for part in text.split("<")[1:]:
                assert part.startswith(message.payload["lead_url"]), text

    def test_ampersands_are_escaped_once(self):
        message = OutboxMessage(subject="A & B", body="x", payload={"title": "Fabryka & Co", "text": "&amp; < >", "facts": [["Firma", "A&B"]]})
        joined = "\n".join(mrkdwn_texts(slack_body(message)))
        assert "Fabryka &amp; Co" in joined and "&amp;amp; &lt; &gt;" in joined and "A&amp;B" in joined


@pytest.mark.django_db
class TestTeams:
    def test_adaptive_card_puts_lead_text_only_in_plain_text_runs(self, demo, django_capture_on_commit_callbacks):
        message = composed_message("Teams: Sales", django_capture_on_commit_callbacks)
        content = teams_body(message)["attachments"][0]["content"]
        markdown_elements = []

        def walk(node):
            if isinstance(node, dict):
                if node.get("type") in ("TextBlock", "FactSet"):
                    markdown_elements.append(node)
                for value in node.values():
                    walk(value)
            elif isinstance(node, list):
                for value in node:
                    walk(value)

        walk(content["body"])
        rendered_as_markdown = json.dumps(markdown_elements)
        for planted in ("evil.example", "**CEO**", "<b>"):
            assert planted not in rendered_as_markdown
        runs = [inline["text"] for block in content["body"] if block["type"] == "RichTextBlock" for inline in block["inlines"]]
        assert any(LINK in text for text in runs), "shown as it was written, not as a link"
        assert content["actions"] == [{"type": "Action.OpenUrl", "title": "Open the lead", "url": message.payload["lead_url"]}]

    def test_legacy_message_card_escapes_markdown_and_html(self, demo, django_capture_on_commit_callbacks):
        message = composed_message("Teams: Sales", django_capture_on_commit_callbacks)
        card = teams_body(message, card="messagecard")
        raw = json.dumps(card, ensure_ascii=False)
        assert LINK not in raw and "<b>" not in raw and "**CEO**" not in raw
        assert teams_markdown_escape(LINK) == r"\[Open the lead\]\(http://evil.example/login\)"
        assert teams_markdown_escape("<b>A & B</b>") == "&lt;b&gt;A &amp; B&lt;/b&gt;"


@pytest.mark.django_db
def test_e_mail_is_plain_text_with_no_html_part(demo, django_capture_on_commit_callbacks):
    message = composed_message("Teams: Sales", django_capture_on_commit_callbacks)
    message.recipient = "kasia@techpol.example"
    mail.outbox.clear()
    email_send(message)
    (sent,) = mail.outbox
    assert sent.content_subtype == "plain" and not getattr(sent, "alternatives", [])
