"""CSV files as Polish offices produce them, and the small parsers the CSV import and the routing config share.

Reading: UTF-8 with or without BOM, else Windows-1250 (Excel's "CSV" on a Polish Windows); `;`, `,` or tab
between cells, whichever the header line uses. Writing: UTF-8 with a BOM (so Excel shows "ś" as "ś"), `,`
between cells, list cells joined with `;` (docs/api.md).

Postal ranges (parsing, formatting, the overlap rule) live in reps/postal_ranges.py; the names are re-exported
here because the routing-document import (flows) and older code import them from this module.

Line numbers are the ones a spreadsheet shows: the header is line 1, the first data row line 2. Blank rows are
kept in the dataset (and skipped by the resources) so that row N of the dataset is always line N + 1.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import tablib
from django.utils.translation import gettext as _
from import_export.formats.base_formats import CSV

from core.text import idna_domain
from reps.postal_ranges import OwnedRange, postal_range_format, postal_range_parse, range_conflicts

__all__ = [  # the postal-range names are re-exported from reps.postal_ranges (their one home)
    "LIST_SEPARATOR",
    "CsvFileError",
    "CsvTable",
    "OwnedRange",
    "SpreadsheetCsv",
    "csv_dataset_read",
    "csv_dataset_write",
    "csv_delimiter_sniff",
    "csv_table_read",
    "csv_text_decode",
    "domain_is_valid",
    "domain_normalise",
    "list_cell_join",
    "list_cell_split",
    "postal_range_format",
    "postal_range_parse",
    "postal_ranges_format",
    "postal_ranges_parse",
    "range_conflicts",
]

LIST_SEPARATOR = ";"
_DELIMITERS = (";", ",", "\t")
_DOMAIN = re.compile(r"^(?=.{1,253}$)(?!-)[\w-]{1,63}(?<!-)(\.(?!-)[\w-]{1,63}(?<!-))+$")


class CsvFileError(ValueError):
    """The file as a whole cannot be read (not text, empty, no header): nothing to report per line."""


# ---------------------------------------------------------------------------------------------- reading files


def csv_text_decode(raw: bytes) -> str:
    """Bytes to text: UTF-16 if it says so, UTF-8 (a BOM is dropped), else Windows-1250."""
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        return raw.decode("utf-16")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    try:
        return raw.decode("cp1250")
    except UnicodeDecodeError as e:
        raise CsvFileError(_("The file is not a text CSV file (neither UTF-8 nor Windows-1250).")) from e


def csv_delimiter_sniff(text: str) -> str:
    """The separator the header line uses most: `;`, `,` or tab (`,` when the header has one column)."""
    header = next((line for line in text.splitlines() if line.strip()), "")
    counts = {d: 0 for d in _DELIMITERS}
    quoted = False
    for ch in header:
        if ch == '"':
            quoted = not quoted
        elif not quoted and ch in counts:
            counts[ch] += 1
    best = max(_DELIMITERS, key=lambda d: counts[d])
    return best if counts[best] else ","


@dataclass
class CsvTable:
    headers: list[str]
    rows: list[list[str]]  # every row exactly as long as `headers`
    overlong: dict[int, int]  # row index -> how many cells the row really had (more than the header)
    delimiter: str


def csv_table_read(raw: bytes) -> CsvTable:
    """Decode, sniff and split a CSV file; headers are trimmed and lower-cased, short rows padded with ""."""
    text = csv_text_decode(raw)
    if not text.strip():
        raise CsvFileError(_("The file is empty."))
    delimiter = csv_delimiter_sniff(text)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        records = list(reader)
    except csv.Error as e:
        raise CsvFileError(_("The file is not a valid CSV file: %(error)s.") % {"error": e}) from e
    # Leading blank lines before the header are not data.
    while records and not any(cell.strip() for cell in records[0]):
        records.pop(0)
    headers = [cell.strip().lower() for cell in records[0]]
    while headers and not headers[-1]:
        headers.pop()  # Excel sometimes leaves trailing empty header cells
    width = len(headers)
    rows: list[list[str]] = []
    overlong: dict[int, int] = {}
    for index, record in enumerate(records[1:]):
        extra = record[width:]
        if any(cell.strip() for cell in extra):
            overlong[index] = width + len(extra)
        cells = record[:width]
        rows.append(cells + [""] * (width - len(cells)))
    # Trailing blank rows are not data either (many editors end the file with one).
    while rows and not any(cell.strip() for cell in rows[-1]):
        rows.pop()
    return CsvTable(headers=headers, rows=rows, overlong=overlong, delimiter=delimiter)


def csv_dataset_read(raw: bytes) -> tablib.Dataset:
    """A tablib dataset for django-import-export; `dataset.overlong` carries rows with too many cells."""
    table = csv_table_read(raw)
    dataset = tablib.Dataset(*[tuple(row) for row in table.rows], headers=table.headers)
    dataset.overlong = table.overlong
    return dataset


def csv_dataset_write(dataset: tablib.Dataset) -> bytes:
    """UTF-8 with BOM, comma-separated, CRLF: what Excel opens with the Polish letters intact."""
    out = io.StringIO(newline="")
    writer = csv.writer(out, delimiter=",", lineterminator="\r\n")
    writer.writerow(dataset.headers)
    for row in dataset:
        writer.writerow(["" if cell is None else str(cell) for cell in row])
    return out.getvalue().encode("utf-8-sig")


class SpreadsheetCsv(CSV):
    """The admin's CSV format: the same reading and writing as the import_csv / export_csv commands."""

    def get_title(self) -> str:
        return "csv"

    def is_binary(self) -> bool:
        return True  # we get bytes and detect the encoding ourselves

    def get_read_mode(self) -> str:
        return "rb"

    def get_extension(self) -> str:
        return "csv"

    def create_dataset(self, in_stream: bytes | str, **kwargs: Any) -> tablib.Dataset:
        if isinstance(in_stream, str):
            in_stream = in_stream.encode("utf-8")
        return csv_dataset_read(in_stream)

    def export_data(self, dataset: tablib.Dataset, **kwargs: Any) -> bytes:
        return csv_dataset_write(dataset)


# ---------------------------------------------------------------------------------------------- cells


def list_cell_split(cell: object, *, separators: str = LIST_SEPARATOR) -> list[str]:
    """ "Śląskie; Opolskie;;" -> ["Śląskie", "Opolskie"]: trimmed, empties dropped, order kept."""
    if cell is None:
        return []
    text = str(cell)
    for sep in separators[1:]:
        text = text.replace(sep, separators[0])
    return [part.strip() for part in text.split(separators[0]) if part.strip()]


def list_cell_join(values: Iterable[object]) -> str:
    return LIST_SEPARATOR.join(str(v) for v in values)


def postal_ranges_parse(cell: object) -> tuple[list[tuple[int, int]], list[str]]:
    """A `;`-separated cell of codes and ranges: (sorted unique ranges, error messages)."""
    ranges: set[tuple[int, int]] = set()
    errors: list[str] = []
    for part in list_cell_split(cell):
        try:
            ranges.add(postal_range_parse(part))
        except ValueError as e:
            errors.append(str(e))
    return sorted(ranges), errors


def postal_ranges_format(ranges: Iterable[tuple[int, int]]) -> str:
    return list_cell_join(postal_range_format(s, e) for s, e in sorted(ranges))


def domain_normalise(text: object) -> str:
    """ " @Gmail.com " -> "gmail.com"; IDNA-normalised as lead domains are ("ＧＭＡＩＬ.com" -> "gmail.com")."""
    domain = str(text or "").strip().lstrip("@").strip().lower().rstrip(".")
    try:
        return idna_domain(domain)
    except ValueError:
        return domain  # domain_is_valid refuses it


def domain_is_valid(domain: str) -> bool:
    return bool(_DOMAIN.match(domain)) and not domain.replace(".", "").isdigit()
