"""Admin titles that read as Polish sentences: „Wybierz regułę do zmiany”, „Dodaj regułę”, „Zmień leada”.

Django builds these titles by putting a model's name (nominative: „reguła”) into a sentence, which in Polish needs
the accusative. Each model's accusative is in the catalogue under the context "accusative" (msgid: the English
verbose name); a model without one keeps Django's title (in the catalogue: „Wybierz do zmiany: reguła”, which
needs no declension). In English nothing changes.
"""

from __future__ import annotations

from django import template
from django.utils import translation
from django.utils.translation import gettext, pgettext, pgettext_lazy

register = template.Library()

# Django's own admin titles (ChangeList and the change form) -> the same sentence around an accusative noun.
TITLES = {
    "Select %s to change": pgettext_lazy("admin title", "Select %s to change"),
    "Select %s to view": pgettext_lazy("admin title", "Select %s to view"),
    "Select %s": pgettext_lazy("admin title", "Select %s"),
    "Add %s": pgettext_lazy("admin title", "Add %s"),
    "Change %s": pgettext_lazy("admin title", "Change %s"),
    "View %s": pgettext_lazy("admin title", "View %s"),
}


def accusative(opts) -> str | None:
    """The model's name in the accusative in the current language, or None when the catalogue has none."""
    with translation.override("en"):
        english = str(opts.verbose_name)
    found = pgettext("accusative", english)
    if found == english and str(opts.verbose_name) != english:
        return None  # translated, but no accusative given: keep Django's title
    return found


@register.simple_tag(takes_context=True)
def admin_title(context) -> str:
    """The page's title, with the model's name declined where Django's title put it into a sentence."""
    title = context.get("title")
    opts = context.get("opts")
    if not title or opts is None:
        return title or ""
    noun = accusative(opts)
    if noun is None:
        return title
    for english, sentence in TITLES.items():
        if str(title) == gettext(english) % opts.verbose_name:
            return str(sentence) % noun
    return title


@register.simple_tag
def admin_add_label(opts) -> str:
    """The “Add rule” button: „Dodaj regułę”."""
    noun = accusative(opts)
    if noun is None:
        return gettext("Add %(name)s") % {"name": opts.verbose_name}
    return str(TITLES["Add %s"]) % noun
