"""django-import-export resources for the CSV KINDs: territories, reps, accounts, domains.

The same classes serve the admin (upload -> preview with diff -> confirm) and `manage.py import_csv` /
`export_csv` (columns: README.md, "CSV files"). `base` is the all-or-nothing planning every kind shares (see
its docstring for how an import runs); each kind has its module. Import from here: `from reps.resources import
TerritoryResource, RESOURCES, import_result_lines`.
"""

from __future__ import annotations

from reps.resources.accounts import AccountResource
from reps.resources.base import BATCH, PlannedResource, PlannedRow, import_result_lines
from reps.resources.domains import DomainResource
from reps.resources.reps import RepResource
from reps.resources.territories import TerritoryResource

RESOURCES: dict[str, type[PlannedResource]] = {
    "territories": TerritoryResource,
    "reps": RepResource,
    "accounts": AccountResource,
    "domains": DomainResource,
}

__all__ = [
    "BATCH",
    "RESOURCES",
    "AccountResource",
    "DomainResource",
    "PlannedResource",
    "PlannedRow",
    "RepResource",
    "TerritoryResource",
    "import_result_lines",
]
