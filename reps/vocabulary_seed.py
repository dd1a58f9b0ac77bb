"""The vocabularies every installation starts with: the 16 voivodeships with their spellings, and a few industries
with synonyms. Migration reps/0005 and the demo (`load_demo`) both call `vocabulary_seed`; it only adds what is
missing, so a manager's own terms, spellings and deletions of spellings are never undone by a migration; the demo
puts the seed's spellings back (`complete=True`), as it does with every demo object.

A name with or without "woj." / "województwo" in front, or "Voivodeship" / "Province" behind, needs no spelling of
its own: reps.vocabularies.vocabulary_key drops those words. Case, diacritics, spaces and hyphens never matter.
"""

from __future__ import annotations

# canonical name, ISO 3166-2 code, TERYT number (the old ISO code PL-NN), other spellings (informal, English...)
VOIVODESHIPS: list[tuple[str, str, str, list[str]]] = [
    ("Dolnośląskie", "PL-DS", "02", ["Dolny Śląsk", "Lower Silesia", "Lower Silesian"]),
    ("Kujawsko-Pomorskie", "PL-KP", "04", ["Kujawy", "Kujawy i Pomorze", "Kuyavia-Pomerania", "Kuyavian-Pomeranian"]),
    ("Lubelskie", "PL-LU", "06", ["Lubelszczyzna", "Lublin", "Lublin Province"]),
    ("Lubuskie", "PL-LB", "08", ["Ziemia Lubuska", "Lubusz", "Lubusz Land"]),
    ("Łódzkie", "PL-LD", "10", ["Ziemia łódzka", "Łódź", "Lodz"]),
    ("Małopolskie", "PL-MA", "12", ["Małopolska", "Lesser Poland", "Little Poland"]),
    ("Mazowieckie", "PL-MZ", "14", ["Mazowsze", "Masovia", "Mazovia", "Masovian", "Mazovian"]),
    ("Opolskie", "PL-OP", "16", ["Opolszczyzna", "Śląsk Opolski", "Opole"]),
    ("Podkarpackie", "PL-PK", "18", ["Podkarpacie", "Subcarpathia", "Subcarpathian"]),
    ("Podlaskie", "PL-PD", "20", ["Podlasie", "Podlachia"]),
    ("Pomorskie", "PL-PM", "22", ["Pomorze", "Pomorze Gdańskie", "Pomerania", "Pomeranian"]),
    ("Śląskie", "PL-SL", "24", ["Śląsk", "Górny Śląsk", "Silesia", "Silesian", "Upper Silesia"]),
    ("Świętokrzyskie", "PL-SK", "26", ["Kielecczyzna", "Kieleckie", "Holy Cross", "Świętokrzyskie Mountains"]),
    ("Warmińsko-Mazurskie", "PL-WN", "28", ["Warmia i Mazury", "Warmia", "Mazury", "Warmia-Masuria", "Warmian-Masurian", "Warmia and Masuria"]),
    ("Wielkopolskie", "PL-WP", "30", ["Wielkopolska", "Greater Poland"]),
    ("Zachodniopomorskie", "PL-ZP", "32", ["Pomorze Zachodnie", "West Pomerania", "West Pomeranian", "Western Pomerania"]),
]

INDUSTRIES: list[tuple[str, list[str]]] = [
    ("E-commerce", ["Sklep internetowy", "e-sklep", "eCommerce", "handel internetowy", "handel elektroniczny", "online shop", "online store", "webshop"]),
    ("IT", ["Informatyka", "Oprogramowanie", "Software", "Usługi IT", "IT services"]),
    ("Produkcja", ["Przemysł", "Wytwórczość", "Manufacturing"]),
    ("Logistyka", ["Transport", "TSL", "Spedycja", "Logistics"]),
    ("Finanse", ["Bankowość", "Ubezpieczenia", "Finance", "Banking", "Insurance"]),
]


def seed_rows() -> list[tuple[str, str, list[str]]]:
    """(kind, canonical name, spellings) of the whole seed."""
    rows = [("region", name, [iso, f"PL-{teryt}", *others]) for name, iso, teryt, others in VOIVODESHIPS]
    rows += [("industry", name, spellings) for name, spellings in INDUSTRIES]
    return rows


def vocabulary_seed(*, term_model: type, spelling_model: type, complete: bool = False) -> int:
    """Add the seed's missing terms, with their spellings (models passed in: the migration's historical ones or the
    real ones). A term that exists keeps the spellings it has, unless `complete` (the demo): then the seed's missing
    spellings are put back too. Returns how many rows were added; four queries, whatever is there already."""
    have_terms = set(term_model.objects.values_list("kind", "name"))
    term_model.objects.bulk_create([term_model(kind=kind, name=name) for kind, name, _s in seed_rows() if (kind, name) not in have_terms])
    terms = {(t.kind, t.name): t for t in term_model.objects.all()}
    have = set(spelling_model.objects.values_list("term_id", "text"))
    new_spellings = [
        spelling_model(term=terms[(kind, name)], text=text)
        for kind, name, spellings in seed_rows()
        if complete or (kind, name) not in have_terms
        for text in spellings
        if (terms[(kind, name)].pk, text) not in have
    ]
    spelling_model.objects.bulk_create(new_spellings)
    return len(terms) - len(have_terms) + len(new_spellings)
