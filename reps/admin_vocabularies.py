"""Admin of the vocabularies: a region or an industry and the ways people type it (reps.vocabularies compiles them).
No spelling may mean two terms: the form and the inline refuse it with the term it already means."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from reps.models import VocabularySpelling, VocabularyTerm
from reps.vocabularies import vocabulary_claims, vocabulary_key


class VocabularyTermForm(forms.ModelForm):
    class Meta:
        model = VocabularyTerm
        fields = ["kind", "name"]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        kind, name = cleaned.get("kind"), cleaned.get("name")
        if kind and name:
            if not vocabulary_key(name, kind=kind):
                self.add_error("name", _("Write a name with at least one letter or digit."))
            claim = vocabulary_claims(kind=kind, exclude_term_id=self.instance.pk).get(vocabulary_key(name, kind=kind))
            if claim is not None:
                self.add_error("name", _("“%(text)s” already means “%(term)s” (as “%(spelling)s”).") % {"text": name, "term": claim[0], "spelling": claim[1]})
        return cleaned


class VocabularySpellingFormSet(forms.BaseInlineFormSet):
    """Every spelling means one term: none may repeat another term's name or spelling, nor one of this term's."""

    def clean(self) -> None:
        super().clean()
        term = self.instance
        if not term.kind or not term.name:
            return
        claims = vocabulary_claims(kind=term.kind, exclude_term_id=term.pk)
        seen = {vocabulary_key(term.name, kind=term.kind): term.name}
        for form in self.forms:
            data = getattr(form, "cleaned_data", None) or {}
            text = data.get("text")
            if not text or data.get("DELETE"):
                continue
            key = vocabulary_key(text, kind=term.kind)
            if not key:
                form.add_error("text", _("Write a spelling with at least one letter or digit."))
            elif key in claims:
                form.add_error(
                    "text", _("“%(text)s” already means “%(term)s” (as “%(spelling)s”).") % {"text": text, "term": claims[key][0], "spelling": claims[key][1]}
                )
            elif key in seen:
                form.add_error(
                    "text", _("“%(text)s” is the same as “%(other)s”: case, diacritics, spaces and hyphens do not count.") % {"text": text, "other": seen[key]}
                )
            else:
                seen[key] = text


class VocabularySpellingInline(admin.TabularInline):
    model = VocabularySpelling
    formset = VocabularySpellingFormSet
    fields = ["text"]
    extra = 3


@admin.register(VocabularyTerm)
class VocabularyTermAdmin(admin.ModelAdmin):
    """A region or an industry and the ways people type it; an edit is used from the next lead on (reps.vocabularies)."""

    form = VocabularyTermForm
    list_display = ["name", "kind", "spelling_list"]
    list_filter = ["kind"]
    search_fields = ["name", "spellings__text"]
    inlines = [VocabularySpellingInline]

    def get_queryset(self, request: HttpRequest) -> QuerySet[VocabularyTerm]:
        return super().get_queryset(request).prefetch_related("spellings")

    @admin.display(description=_("spellings and synonyms"))
    def spelling_list(self, term: VocabularyTerm) -> str:
        return ", ".join(s.text for s in term.spellings.all())
