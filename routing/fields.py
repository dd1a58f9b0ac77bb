"""The JSON field that stores lines as message codes (`core.messages`): Messages go in as {"m": msgid, "p": {...}},
come out as Messages rendered in the language active when the row is read (the reader's); old plain strings stay
plain strings."""

from __future__ import annotations

from django.db import models

from core import messages


class MessagesField(models.JSONField):
    """A JSONField whose Messages (anywhere in the value) are stored as codes and read back as Messages."""

    def get_prep_value(self, value):
        return super().get_prep_value(messages.dump(value) if isinstance(value, list | tuple | messages.Message) else value)

    def from_db_value(self, value, expression, connection):
        return messages.load(super().from_db_value(value, expression, connection))
