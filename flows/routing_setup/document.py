"""The routing document's shape: its version, its sections in the order they are read and applied, the plan a
checked document becomes, and the error that lists every problem of one that cannot be imported."""

from __future__ import annotations

from typing import Any

from notifications.delivery import SECRET_OPTION

VERSION = 1
SECTIONS = (
    "reps",
    "channels",
    "domain_lists",
    "pools",
    "on_duty_rota",
    "territories",
    "accounts",
    "rules",
    "score_rules",
    "calendars",
    "sla_policies",
)

# A checked document: per section, its items with references resolved to keys (reps by lower-case e-mail,
# everything else by name) and `where` (the item's place in the document, for messages).
Plan = dict[str, list[dict[str, Any]]]


class RoutingConfigError(Exception):
    """The document cannot be imported; `problems` says every reason, each with where it is."""

    def __init__(self, problems: list[str]):
        super().__init__("\n".join(problems))
        self.problems = problems


def config_public(config: dict[str, Any] | None) -> dict[str, Any]:
    """A channel's options without the secret-named ones (token, api_key, auth header...): what a document carries."""
    return {k: v for k, v in (config or {}).items() if not SECRET_OPTION.search(k)}
