"""Reads for the manager's dashboard, the wall screen and the weekly digest, across routing, SLA and reps.

Every figure is an aggregate computed by the database: the number of queries is fixed (about fifteen for the
dashboard, seven for the wall) whatever the number of leads and reps. Medians and 90th percentiles use
PostgreSQL's `percentile_cont`; SQLite has no percentile aggregate, so there they are computed from the most
recent `PERCENTILE_SAMPLE` leads of the period, read in one ordered query (the figures say when that happened).

Speed to lead is split the way the lead's row stores it: system delay (submitted -> assigned, stored in seconds),
rep delay (assigned -> first response, wall clock in seconds and business minutes), and the whole of it
(submitted -> first response, wall clock).
"""

from flows.metrics.dashboard import (
    SPEED_EXPRESSIONS,
    CountLine,
    Dashboard,
    DayLine,
    Percentiles,
    RepLine,
    SlaLine,
    SourceLine,
    SpeedToLead,
    dashboard,
    rep_status,
)
from flows.metrics.scope import (
    DELAY_BUCKETS,
    IDLE_RULE_DAYS,
    MAX_RANGE_DAYS,
    OPEN_STATUSES,
    OVERDUE_LIST_LIMIT,
    PERCENTILE_SAMPLE,
    PRESETS,
    WALL_LIST_LIMIT,
    PercentileCont,
    Scope,
    SecondsBetween,
    leads_in_period,
    leads_scoped,
    percentile_cont,
    scope_for,
    week_scope,
)
from flows.metrics.wall import LEAD_CSV_FIELDS, Wall, leads_for_export, wall

__all__ = [
    "CountLine",
    "DELAY_BUCKETS",
    "Dashboard",
    "DayLine",
    "IDLE_RULE_DAYS",
    "LEAD_CSV_FIELDS",
    "MAX_RANGE_DAYS",
    "OPEN_STATUSES",
    "OVERDUE_LIST_LIMIT",
    "PERCENTILE_SAMPLE",
    "PRESETS",
    "PercentileCont",
    "Percentiles",
    "RepLine",
    "SPEED_EXPRESSIONS",
    "Scope",
    "SecondsBetween",
    "SlaLine",
    "SourceLine",
    "SpeedToLead",
    "WALL_LIST_LIMIT",
    "Wall",
    "dashboard",
    "leads_for_export",
    "leads_in_period",
    "leads_scoped",
    "percentile_cont",
    "rep_status",
    "scope_for",
    "wall",
    "week_scope",
]
