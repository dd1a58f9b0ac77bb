"""The dashboard's figures: each one a table of numbers (shown next to its chart, exported as CSV, mailed in the
weekly digest) and the chart drawn from the same rows. Built in the active language."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime

from django.utils import formats, timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext, pgettext

from flows import charts
from flows.charts import Series
from flows.metrics import Dashboard


@dataclass(frozen=True)
class Figure:
    key: str  # the CSV's name: /admin/dashboard/csv/<key>/
    title: str
    headers: list[str]
    rows: list[list]  # raw values: numbers, text, dates, None
    chart: charts.Chart | None = None
    note: str = ""
    empty: str = ""  # what the table says when it has no rows (default: no leads in the period)
    bars: list[tuple[str, float, str]] = field(default_factory=list)  # (label, 0-100 share of the widest, value) for e-mail bars

    @property
    def cells(self) -> list[list[str]]:
        """The rows as text for a page or an e-mail, in the active language."""
        return [[cell_text(value) for value in row] for row in self.rows]


def cell_text(value) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "✓" if value else "–"
    if isinstance(value, float):
        return charts.number(value, decimals=1)
    if isinstance(value, int):
        return charts.number(value)
    if isinstance(value, datetime):
        return formats.date_format(timezone.localtime(value), "SHORT_DATETIME_FORMAT")
    if isinstance(value, date):
        return formats.date_format(value, "SHORT_DATE_FORMAT")
    return str(value)


def duration_text(minutes: int) -> str:
    """A span a person reads at a glance: "12 min", "3 h 05 min", "2 days"."""
    minutes = max(0, int(minutes))
    if minutes < 60:
        return _("%(minutes)s min") % {"minutes": minutes}
    if minutes < 24 * 60:
        return _("%(hours)s h %(minutes)02d min") % {"hours": minutes // 60, "minutes": minutes % 60}
    days = minutes // (24 * 60)
    return ngettext("%(days)s day", "%(days)s days", days) % {"days": days}


def _pct(value: float) -> str:
    return charts.number(value, decimals=1, unit=" %")


def _day(day: date) -> str:
    return formats.date_format(day, "d.m")


def _email_bars(rows: list[tuple[str, float, str]], *, scale: float | None = None) -> list[tuple[str, float, str]]:
    """Bars for the e-mail: widths in % of `scale` (100 for shares), else of the widest row."""
    widest = scale or max((value for _label, value, _text in rows), default=0) or 1
    return [(label, round(100.0 * value / widest, 1), text) for label, value, text in rows]


def figures(d: Dashboard) -> list[Figure]:
    speed = d.speed
    out: list[Figure] = []

    # Speed to lead.
    # (name, unit, median, p90, the chart's label, to minutes)
    measures = [
        (_("Speed to lead (submitted → first response)"), _("wall-clock minutes"), speed.total_minutes, _("Speed to lead"), 1),
        (_("System delay (submitted → assigned)"), _("seconds"), speed.system_seconds, _("System delay"), 1 / 60),
        (_("Rep delay (assigned → first response)"), _("wall-clock minutes"), speed.rep_minutes, _("Rep delay, wall clock"), 1),
        (_("Rep delay (assigned → first response)"), _("business minutes"), speed.rep_business_minutes, _("Rep delay, business time"), 1),
    ]

    def scaled(value, factor):
        return None if value is None else value * factor

    note = _("Computed from the %(n)s most recent leads of the period.") % {"n": speed.sampled} if speed.sampled else ""
    out.append(
        Figure(
            key="speed",
            title=_("Speed to lead: median and 90th percentile"),
            headers=[_("Measure"), _("Unit"), _("Median"), _("90th percentile")],
            rows=[[name, unit, p.median, p.p90] for name, unit, p, _label, _factor in measures],
            chart=charts.hbars(
                id="chart-speed",
                title=_("Speed to lead, minutes"),
                rows=[(label, [scaled(p.median, factor), scaled(p.p90, factor)]) for _name, _unit, p, label, factor in measures],
                series=[Series(_("Median"), "main"), Series(_("90th percentile"), "alt")],
                stacked=False,
                decimals=1,
            ),
            note=note,
            bars=_email_bars([(label, scaled(p.median, factor) or 0, charts.number(scaled(p.median, factor), decimals=1)) for _n, _u, p, label, factor in measures]),
        )
    )
    out.append(
        Figure(
            key="response-times",
            title=_("Rep delay to the first response, business minutes"),
            headers=[_("Business minutes"), _("Leads")],
            rows=[[label, n] for label, n in speed.buckets],
            chart=charts.columns(id="chart-response-times", title=_("Leads by rep delay, business minutes"), points=[(label, [n]) for label, n in speed.buckets], series=[Series(_("Leads"), "main")]),
            bars=_email_bars([(label, n, str(n)) for label, n in speed.buckets]),
        )
    )

    # SLA per rep and per policy.
    met, breached, running = pgettext("leads", "SLA met"), pgettext("leads", "SLA breached"), pgettext("leads", "Clock still running")
    sla_series = [Series(met, "good"), Series(breached, "bad"), Series(running, "warn")]
    sla_headers = [met, breached, running, pgettext("leads", "SLA met (%)"), pgettext("leads", "SLA breached (%)")]
    rep_lines = [line.sla for line in d.reps if line.sla and (line.sla.decided or line.sla.pending)]
    for key, title, lines, first in (
        ("sla-reps", _("SLA per rep"), rep_lines, _("Rep")),
        ("sla-policies", _("SLA per policy"), d.policies, pgettext("column", "SLA policy")),
    ):
        out.append(
            Figure(
                key=key,
                title=title,
                headers=[first, *sla_headers],
                rows=[[line.name, line.met, line.breached, line.pending, line.met_rate, line.breach_rate] for line in lines],
                chart=charts.hbars(
                    id=f"chart-{key}", title=title, rows=[(line.name, [line.met, line.breached, line.pending]) for line in lines], series=sla_series,
                    value_labels=[pgettext("leads", "%(rate)s met") % {"rate": _pct(line.met_rate)} if line.decided else "—" for line in lines],
                ),
                bars=_email_bars([(line.name, line.met_rate, _pct(line.met_rate)) for line in lines], scale=100),
            )
        )

    # Unhandled leads.
    out.append(
        Figure(
            key="unhandled",
            title=_("Unhandled leads of the period"),
            headers=[_("State"), _("Leads")],
            rows=[[line.name, line.n] for line in d.unhandled],
            chart=charts.hbars(
                id="chart-unhandled", title=_("Unhandled leads of the period"), rows=[(line.name, [line.n]) for line in d.unhandled],
                series=[Series(_("Leads"), "bad")],
            ),
            bars=_email_bars([(line.name, line.n, str(line.n)) for line in d.unhandled]),
        )
    )

    # Conversion to conversation and lead quality, per source.
    sources = [(s.source or _("(no source)"), s) for s in d.by_source]
    out.append(
        Figure(
            key="conversion",
            title=_("Conversion to conversation (contacted share of routed leads)"),
            headers=[_("Source"), _("Routed"), _("Contacted"), _("Contacted (%)")],
            rows=[[_("All sources"), d.routed, d.contacted, d.contacted_share]] + [[name, s.routed, s.contacted, s.contacted_share] for name, s in sources],
            chart=charts.hbars(
                id="chart-conversion", title=_("Contacted share of routed leads, %"),
                rows=[(_("All sources"), [d.contacted_share])] + [(name, [s.contacted_share]) for name, s in sources],
                series=[Series(_("Contacted (%)"), "good")], max_value=100, decimals=1, unit=" %",
            ),
            bars=_email_bars(
                [(_("All sources"), d.contacted_share, _pct(d.contacted_share))] + [(name, s.contacted_share, _pct(s.contacted_share)) for name, s in sources],
                scale=100,
            ),
        )
    )
    out.append(
        Figure(
            key="quality",
            title=_("Lead quality (disqualified share)"),
            headers=[_("Source"), _("Leads"), pgettext("leads", "Disqualified"), _("Disqualified (%)")],
            rows=[[_("All sources"), d.received, d.disqualified, d.disqualified_share]] + [[name, s.n, s.disqualified, s.disqualified_share] for name, s in sources],
            chart=charts.hbars(
                id="chart-quality", title=_("Disqualified share, %"),
                rows=[(_("All sources"), [d.disqualified_share])] + [(name, [s.disqualified_share]) for name, s in sources],
                series=[Series(_("Disqualified (%)"), "muted")], max_value=100, decimals=1, unit=" %",
            ),
            bars=_email_bars(
                [(_("All sources"), d.disqualified_share, _pct(d.disqualified_share))] + [(name, s.disqualified_share, _pct(s.disqualified_share)) for name, s in sources],
                scale=100,
            ),
        )
    )

    # Distribution per rep (zero included) and per pool.
    out.append(
        Figure(
            key="reps",
            title=_("Fairness: leads per rep"),
            headers=[_("Rep"), _("Leads"), _("Share (%)"), _("Contacted"), _("Open now"), _("Past SLA now"), _("Median rep delay (min)"), _("Status")],
            rows=[
                [r.name, r.assigned, r.share, r.contacted, r.open, r.breached, r.median_response_minutes, r.status_label]
                for r in d.distribution
            ],
            chart=charts.hbars(
                id="chart-reps", title=_("Leads per rep"), rows=[(r.name, [r.assigned]) for r in d.distribution], series=[Series(_("Leads"), "main")],
                value_labels=[f"{r.assigned} ({_pct(r.share)})" for r in d.distribution],
            ),
            bars=_email_bars([(r.name, r.assigned, str(r.assigned)) for r in d.distribution]),
        )
    )
    out.append(
        Figure(
            key="pools",
            title=_("Leads per pool"),
            headers=[_("Pool"), _("Leads"), _("Share (%)")],
            rows=[[p.name, p.n, p.share] for p in d.pools],
            chart=charts.hbars(
                id="chart-pools", title=_("Leads per pool"), rows=[(p.name, [p.n]) for p in d.pools], series=[Series(_("Leads"), "main")],
                value_labels=[f"{p.n} ({_pct(p.share)})" for p in d.pools],
            ),
            bars=_email_bars([(p.name, p.n, str(p.n)) for p in d.pools]),
        )
    )

    # Rule hits, and the quarterly review's rules without a hit.
    out.append(
        Figure(
            key="rules",
            title=_("Rule hits"),
            headers=["#", _("Rule"), _("Hits in period"), _("Hits in 90 days"), _("Hits ever"), _("Last hit"), _("Active")],
            rows=[[r["position"], r["name"], r["period_hits"], r["recent_hits"], r["hits"], r["last_hit_at"], r["active"]] for r in d.rules],
            chart=charts.hbars(
                id="chart-rules", title=_("Rule hits in the period"), rows=[(r["name"], [r["period_hits"]]) for r in d.rules if r["active"]],
                series=[Series(_("Hits in period"), "main")],
            ),
            bars=_email_bars([(r["name"], r["period_hits"], str(r["period_hits"])) for r in d.rules if r["active"]]),
        )
    )
    out.append(
        Figure(
            key="idle-rules",
            title=_("Active rules with no hit in 90 days"),
            headers=["#", _("Rule"), _("Hits ever"), _("Last hit")],
            rows=[[r["position"], r["name"], r["hits"], r["last_hit_at"]] for r in d.idle_rules],
            empty=_("Every active rule matched a lead in the last 90 days."),
        )
    )

    # Leads per day.
    out.append(
        Figure(
            key="days",
            title=_("Leads per day"),
            headers=[_("Day"), _("Leads"), pgettext("leads", "SLA breached")],
            rows=[[day.day, day.received, day.breached] for day in d.days],
            chart=charts.columns(
                id="chart-days", title=_("Leads per day"), points=[(_day(day.day), [day.received - day.breached, day.breached]) for day in d.days],
                series=[Series(_("Within or no SLA"), "main"), Series(pgettext("leads", "SLA breached"), "bad")],
            ),
        )
    )
    return out


def figure_by_key(d: Dashboard, key: str) -> Figure | None:
    return next((figure for figure in figures(d) if figure.key == key), None)


# ---------------------------------------------------------------------------------------------- CSV

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value) -> str:
    """A cell as text; a value a spreadsheet would run as a formula (=, +, -, @) is prefixed with an apostrophe."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, datetime):
        return timezone.localtime(value).strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, int | float):
        return str(value)
    text = str(value)
    return "'" + text if text.startswith(FORMULA_START) else text


def csv_rows(headers: list[str], rows) -> Iterator[str]:
    """Yields the CSV as text chunks: a BOM first (Excel then reads UTF-8), comma-separated, CRLF."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    yield "\ufeff"
    writer.writerow([csv_cell(h) for h in headers])
    for i, row in enumerate(rows, start=1):
        writer.writerow([csv_cell(value) for value in row])
        if i % 500 == 0:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate(0)
    yield buffer.getvalue()
