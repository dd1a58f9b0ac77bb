"""The reps' pages: own leads with a countdown in business time, a page per lead (fields, why, tasks, notes, history,
the messages sent about it), activities with an outcome, status ("in a meeting until …") and out-of-office days.

Access: a rep sees and works only the leads they own (anything else is a 404); a team lead (`Rep.is_team_lead`)
also sees the team's leads (TechPol is one sales team: every rep's) and can hand one to another rep.
"""

import functools
from datetime import datetime, timedelta

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.http import Http404, HttpResponseForbidden, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from core import business_time
from core.scoring import breakdown_lines
from flows.services.leads import ActivityRefused, activity_log
from flows.services.reassign import lead_reassign
from notifications.models import OutboxMessage
from reps.ics import CalendarError, rep_calendar_refresh
from reps.models import Absence, Rep
from reps.services import absence_add, absence_delete, rep_calendar_url_set, rep_notify_noncritical_set, rep_status_set
from routing.models import Activity, Lead, LeadEvent, Task
from routing.selectors import event_detail, explanation_lines
from routing.services.tasks import Outcome, lead_disqualify_by_rep, outcome_split, outcome_text, task_done
from sla.selectors import calendar_build

SEARCH_MAX = 100


class ActivityLogForm(forms.Form):
    kind = forms.ChoiceField(label=gettext_lazy("What"), choices=Activity.Kind.choices)
    result = forms.ChoiceField(label=gettext_lazy("Outcome"), choices=[("", "—"), *Outcome.choices], required=False)
    outcome = forms.CharField(label=gettext_lazy("Note"), required=False, max_length=1900)


class StatusForm(forms.Form):
    status = forms.ChoiceField(label=gettext_lazy("My status"), choices=Rep.Status.choices)
    until = forms.TimeField(label=gettext_lazy("until"), required=False, widget=forms.TimeInput(attrs={"type": "time"}))


class AbsenceForm(forms.Form):
    starts_on = forms.DateField(label=gettext_lazy("From"), widget=forms.DateInput(attrs={"type": "date"}))
    ends_on = forms.DateField(label=gettext_lazy("Until"), widget=forms.DateInput(attrs={"type": "date"}))
    reason = forms.CharField(label=gettext_lazy("Reason"), required=False, max_length=200)

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("starts_on") and cleaned.get("ends_on") and cleaned["ends_on"] < cleaned["starts_on"]:
            raise ValidationError(_("The last day cannot be before the first."))
        return cleaned


class CalendarForm(forms.Form):
    calendar_url = forms.URLField(label=gettext_lazy("Calendar (iCal URL)"), required=False, max_length=500, assume_scheme="https")


class ReassignForm(forms.Form):
    to_rep = forms.ModelChoiceField(label=gettext_lazy("Give to"), queryset=Rep.objects.filter(is_active=True))
    reason = forms.CharField(label=gettext_lazy("Reason"), max_length=500)


def _rep_or_none(user) -> Rep | None:
    return Rep.objects.filter(user=user).first()


def _back(request, default: str = "my-leads"):
    """Back to the page the form was on (`next`, this site only), else the list."""
    target = request.POST.get("next") or ""
    if target and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}, require_https=request.is_secure()):
        return redirect(target)
    return redirect(default)


def rep_post(view):
    """A rep's own POST action: logged in, a rep (else 404), answered by a redirect back to the page."""

    @login_required
    @require_POST
    @functools.wraps(view)
    def wrapper(request, *args, **kwargs):
        rep = _rep_or_none(request.user)
        if rep is None:
            raise Http404
        view(request, rep, *args, **kwargs)
        return _back(request)

    return wrapper


def _visible_leads(rep: Rep) -> QuerySet[Lead]:
    """The leads `rep` may open: their own; a team lead also every rep's."""
    if rep.is_team_lead:
        return Lead.objects.filter(owner__isnull=False)
    return Lead.objects.filter(owner=rep)


def _lead_for(rep: Rep, lead_id: int) -> Lead:
    """The lead, if `rep` may see it; else 404 (another rep's lead does not exist for them)."""
    return get_object_or_404(_visible_leads(rep).select_related("owner", "rule", "pool", "sla_policy__calendar"), pk=lead_id)


def _business_minutes_left(lead: Lead, now: datetime) -> tuple[int | None, bool]:
    """(business minutes to the deadline, negative when overdue; is the calendar open now) for a lead whose clock
    runs; (None, False) without a deadline. Wall-clock minutes when the lead has no policy calendar."""
    if not lead.sla_due_at or lead.first_response_at is not None or lead.status != Lead.Status.ASSIGNED:
        return None, False
    policy = lead.sla_policy
    calendar = getattr(policy, "calendar", None) if policy else None
    if calendar is None:
        return round((lead.sla_due_at - now).total_seconds() / 60), True
    cal = calendar_build(calendar)
    if lead.sla_due_at >= now:
        minutes = business_time.business_minutes_between(cal, now, lead.sla_due_at)
    else:
        minutes = -business_time.business_minutes_between(cal, lead.sla_due_at, now)
    return round(minutes), business_time.is_open(cal, now)


def _duration(minutes: int) -> str:
    minutes = abs(minutes)
    if minutes >= 60 and minutes % 60 == 0:
        return _("%(h)d h") % {"h": minutes // 60}
    if minutes >= 60:
        return _("%(h)d h %(m)d min") % {"h": minutes // 60, "m": minutes % 60}
    return _("%(m)d min") % {"m": minutes}


def _countdown_fill(leads: list[Lead], now: datetime) -> None:
    for lead in leads:
        minutes, ticking = _business_minutes_left(lead, now)
        lead.seconds_left = int((lead.sla_due_at - now).total_seconds()) if minutes is not None else None
        lead.business_minutes_left = minutes
        lead.countdown_ticking = ticking
        if minutes is None:
            lead.countdown_text, lead.countdown_class = "", ""
        elif minutes < 0:
            lead.countdown_text = _("overdue by %(time)s of business time") % {"time": _duration(minutes)}
            lead.countdown_class = "breached"
        else:
            lead.countdown_text = _("due in %(time)s of business time") % {"time": _duration(minutes)}
            lead.countdown_class = "soon" if minutes < 15 else "ok"


def _marked(qs: QuerySet[Lead], rep: Rep) -> QuerySet[Lead]:
    """Annotate `is_new` (nobody has touched it: no call, e-mail, meeting or rep note) and `reassigned_to_me`."""
    touched = Activity.objects.filter(lead=OuterRef("pk"), rep__isnull=False)
    handed = LeadEvent.objects.filter(lead=OuterRef("pk"), type=LeadEvent.Type.REASSIGNED, rep=rep)
    return qs.annotate(touched=Exists(touched), reassigned_to_me=Exists(handed))


def home(request):
    if request.user.is_authenticated and request.user.is_staff:
        return redirect("admin:index")
    return redirect("my-leads")


def _rep_page(view):
    """A rep's GET page: logged in; staff without a rep go to the admin; other non-reps get a 403."""

    @login_required
    @functools.wraps(view)
    def wrapper(request, *args, **kwargs):
        rep = _rep_or_none(request.user)
        if rep is None:
            if request.user.is_staff:
                return redirect("admin:index")
            return HttpResponseForbidden(_("This page is for reps; your account is not a rep."))
        return view(request, rep, *args, **kwargs)

    return wrapper


@_rep_page
def my_leads(request, rep: Rep):
    show_all = request.GET.get("all") == "1"
    team = request.GET.get("team") == "1" and rep.is_team_lead
    query = (request.GET.get("q") or "").strip()[:SEARCH_MAX]
    qs = _visible_leads(rep) if team else Lead.objects.filter(owner=rep)
    if not show_all and not query:
        qs = qs.filter(status=Lead.Status.ASSIGNED)
    if query:
        words = Q()
        for word in query.split()[:5]:
            words &= Q(first_name__icontains=word) | Q(last_name__icontains=word) | Q(company__icontains=word) | Q(email__icontains=word)
        qs = qs.filter(words)
    qs = _marked(qs.select_related("owner", "rule", "sla_policy__calendar"), rep).order_by("sla_due_at", "-received_at")
    leads = list(qs[:200])
    now = timezone.now()
    _countdown_fill(leads, now)
    for lead in leads:
        lead.is_new = not lead.touched and lead.first_response_at is None
        lead.why = explanation_lines(lead)  # in the reader's language
    context = {
        "rep": rep,
        "leads": leads,
        "show_all": show_all,
        "team": team,
        "query": query,
        "activity_form": ActivityLogForm(),
        "outcomes": Outcome.choices,
        "status_form": StatusForm(initial={"status": rep.current_status}),
        "absence_form": AbsenceForm(),
        "calendar_form": CalendarForm(initial={"calendar_url": rep.calendar_url}),
        "noncritical_choices": NoncriticalForm.base_fields["kinds"].choices,
        "absences": rep.absences.filter(ends_on__gte=timezone.localdate()),
        "now": now,
        "open_count": Lead.objects.filter(owner=rep, status=Lead.Status.ASSIGNED).count(),
    }
    return render(request, "routing/my_leads.html", context)


@_rep_page
def my_lead_detail(request, rep: Rep, lead_id: int):
    lead = _lead_for(rep, lead_id)
    now = timezone.now()
    _countdown_fill([lead], now)
    activities = list(lead.activities.select_related("rep").order_by("-at", "-id"))
    for activity in activities:
        code, note = outcome_split(activity.outcome)
        activity.result_label = Outcome(code).label if code else ""
        activity.note = note
    lead.why = explanation_lines(lead)  # the why and the history in the reader's language
    events = list(lead.events.select_related("rep").order_by("-at", "-id")[:100])
    for event in events:
        event.detail_text = event_detail(event)
    handed = next((e for e in events if e.type == LeadEvent.Type.REASSIGNED), None) or lead.events.filter(type=LeadEvent.Type.REASSIGNED).order_by("-at", "-id").first()
    if handed is not None:
        handed.detail_text = event_detail(handed)
    addresses = [a for a in (rep.email, rep.phone, rep.slack_member_id) if a]
    if lead.owner_id and lead.owner_id != rep.pk:
        owner = lead.owner
        addresses += [a for a in (owner.email, owner.phone, owner.slack_member_id) if a]
    context = {
        "rep": rep,
        "lead": lead,
        "is_mine": lead.owner_id == rep.pk,
        "tasks": list(lead.tasks.select_related("assignee").order_by("done_at", "due_at", "id")),
        "activities": [a for a in activities if a.kind != Activity.Kind.NOTE],
        "notes": [a for a in activities if a.kind == Activity.Kind.NOTE],
        "events": events,
        "sent": list(OutboxMessage.objects.filter(lead=lead, recipient__in=addresses).select_related("channel").order_by("-created_at")[:50]),
        "activity_form": ActivityLogForm(),
        "outcomes": Outcome.choices,
        "reassign_form": ReassignForm(initial={"to_rep": lead.owner_id}) if rep.is_team_lead else None,
        "extra": sorted((str(k), str(v)) for k, v in (lead.extra or {}).items()),
        "score_lines": breakdown_lines(lead.score_breakdown),
        "reassigned_to_me": lead.events.filter(type=LeadEvent.Type.REASSIGNED, rep=rep).exists(),
        "handed": handed,
    }
    return render(request, "routing/my_lead.html", context)


@login_required
def my_leads_updates(request):
    """{"new": leads given to me since `since` (ISO time), "open": my open leads, "now": the time to ask from next}:
    the list polls this and reloads when something arrived. JSON always, never a 500."""
    rep = _rep_or_none(request.user)
    if rep is None:
        return JsonResponse({"error": "not a rep"}, status=404)
    now = timezone.now()
    since = parse_datetime(request.GET.get("since") or "") if len(request.GET.get("since") or "") < 40 else None
    if since is None or timezone.is_naive(since):
        since = now - timedelta(minutes=1)
    mine = Lead.objects.filter(owner=rep, status=Lead.Status.ASSIGNED)
    return JsonResponse({"new": mine.filter(assigned_at__gt=since).count(), "open": mine.count(), "now": now.isoformat()})


@rep_post
def my_lead_activity(request, rep: Rep, lead_id: int) -> None:
    # A rep works only their own leads (a team lead may log on the team's).
    lead = _lead_for(rep, lead_id)
    form = ActivityLogForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Choose what you did."))
        return
    result = form.cleaned_data["result"]
    now = timezone.now()
    try:
        activity_log(lead=lead, kind=form.cleaned_data["kind"], at=now, rep_email=rep.email, outcome=outcome_text(outcome=result, note=form.cleaned_data["outcome"]))
    except ActivityRefused as exc:
        messages.error(request, exc.message)
        return
    if result == Outcome.DISQUALIFIED:
        lead_disqualify_by_rep(lead=lead, by=rep, now=now, note=form.cleaned_data["outcome"])
    messages.success(request, _("Logged for lead #%(id)s.") % {"id": lead.pk})


@rep_post
def my_task_done(request, rep: Rep, lead_id: int, task_id: int) -> None:
    lead = _lead_for(rep, lead_id)
    task = get_object_or_404(Task, pk=task_id, lead=lead)
    task_done(task=task, by=rep)
    messages.success(request, _("Task done: %(title)s") % {"title": task.title})


@rep_post
def my_lead_reassign(request, rep: Rep, lead_id: int) -> None:
    """A team lead hands a lead to another rep (flows.services.reassign), with a reason."""
    if not rep.is_team_lead:
        raise Http404
    lead = _lead_for(rep, lead_id)
    form = ReassignForm(request.POST)
    if not form.is_valid():
        messages.error(request, " ".join(str(e) for errs in form.errors.values() for e in errs))
        return
    try:
        lead_reassign(lead=lead, to_rep=form.cleaned_data["to_rep"], by=request.user, reason=form.cleaned_data["reason"], now=timezone.now())
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, _("Lead #%(id)s given to: %(rep)s.") % {"id": lead.pk, "rep": form.cleaned_data["to_rep"].name})


@rep_post
def my_status(request, rep: Rep) -> None:
    form = StatusForm(request.POST)
    if not form.is_valid():
        messages.error(request, " ".join(str(e) for errs in form.errors.values() for e in errs))
        return
    until = None
    if form.cleaned_data["until"] and form.cleaned_data["status"] != Rep.Status.AVAILABLE:
        now = timezone.localtime()
        until = now.replace(hour=form.cleaned_data["until"].hour, minute=form.cleaned_data["until"].minute, second=0, microsecond=0)
        if until <= now:  # "until 9:00" typed in the evening: tomorrow morning
            until += timedelta(days=1)
    try:
        rep_status_set(rep=rep, status=form.cleaned_data["status"], until=until)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, _("Status saved."))


class NoncriticalForm(forms.Form):
    kinds = forms.MultipleChoiceField(
        required=False,
        widget=forms.CheckboxSelectMultiple,
        choices=[("slack", "Slack"), ("teams", "Teams"), ("sms", gettext_lazy("SMS"))],
        label=gettext_lazy("Also tell me of leads that are not critical by"),
    )


@rep_post
def my_notifications(request, rep: Rep) -> None:
    """Which of the rep's own channels also tell them of non-critical leads (e-mail always does)."""
    form = NoncriticalForm(request.POST)
    if not form.is_valid():
        messages.error(request, " ".join(str(e) for errs in form.errors.values() for e in errs))
        return
    rep_notify_noncritical_set(rep=rep, kinds=form.cleaned_data["kinds"])
    messages.success(request, _("Notification settings saved."))


@rep_post
def my_absences(request, rep: Rep) -> None:
    form = AbsenceForm(request.POST)
    if not form.is_valid():
        messages.error(request, " ".join(str(e) for errs in form.errors.values() for e in errs))
        return
    try:
        absence_add(rep=rep, **form.cleaned_data)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, _("Out-of-office days saved."))


@rep_post
def my_calendar(request, rep: Rep) -> None:
    """The rep's out-of-office calendar address; read at once, then every 15 minutes (reps.ics)."""
    form = CalendarForm(request.POST)
    if not form.is_valid():
        messages.error(request, " ".join(str(e) for errs in form.errors.values() for e in errs))
        return
    try:
        rep_calendar_url_set(rep=rep, url=form.cleaned_data["calendar_url"])
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return
    if not rep.calendar_url:
        messages.success(request, _("Calendar removed."))
        return
    try:
        counts = rep_calendar_refresh(rep=rep)
    except CalendarError:
        messages.error(request, _("Saved, but the calendar could not be read now; it will be tried again in 15 minutes."))
    else:
        messages.success(request, _("Calendar saved: %(n)s out-of-office entries read.") % {"n": counts["created"] + counts["updated"]})


@rep_post
def my_absence_delete(request, rep: Rep, absence_id: int) -> None:
    absence_delete(absence=get_object_or_404(Absence, pk=absence_id, rep=rep, source=Absence.Source.TYPED))
    messages.success(request, _("Out-of-office days removed."))


class RoutingImportForm(forms.Form):
    document = forms.FileField(label=gettext_lazy("Routing setup (JSON from “Export”)"))
    dry_run = forms.BooleanField(label=gettext_lazy("Only check, write nothing"), required=False, initial=True)

    MAX_BYTES = 5_000_000

    def clean_document(self):
        import json

        upload = self.cleaned_data["document"]
        if upload.size > self.MAX_BYTES:
            raise ValidationError(_("The file is larger than 5 MB."))
        try:
            return json.loads(upload.read().decode("utf-8-sig"))
        except UnicodeDecodeError as exc:
            raise ValidationError(_("The file is not UTF-8 text.")) from exc
        except (ValueError, RecursionError) as exc:
            raise ValidationError(_("The file is not valid JSON: %(error)s") % {"error": exc}) from exc


def routing_setup(request):
    """Export the whole routing setup as JSON, or check and import one (staging → production)."""
    import json

    from django.contrib import admin
    from django.http import HttpResponse

    from flows.routing_setup import RoutingConfigError, routing_config_export, routing_config_import

    if request.GET.get("download") == "1":
        if not request.user.has_perm("routing.view_rule"):
            raise PermissionDenied
        body = json.dumps(routing_config_export(), ensure_ascii=False, indent=2)
        response = HttpResponse(body, content_type="application/json; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="leadrouter-routing-{timezone.localdate():%Y-%m-%d}.json"'
        return response

    problems: list[str] = []
    summary: dict | None = None
    form = RoutingImportForm()
    if request.method == "POST":
        if not (request.user.has_perm("routing.change_rule") and request.user.has_perm("sla.change_slapolicy")):
            raise PermissionDenied
        form = RoutingImportForm(request.POST, request.FILES)
        if form.is_valid():
            dry_run = form.cleaned_data["dry_run"]
            try:
                summary = routing_config_import(document=form.cleaned_data["document"], dry_run=dry_run, user=request.user)
            except RoutingConfigError as exc:
                problems = exc.problems
            else:
                if dry_run:
                    messages.info(request, _("The document is valid. Nothing was written: untick “Only check” to import it."))
                else:
                    messages.success(request, _("Routing setup imported."))
    context = {**admin.site.each_context(request), "form": form, "problems": problems, "summary": summary, "title": _("Routing setup")}
    return render(request, "admin/routing/routing_setup.html", context)
