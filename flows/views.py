"""The reps' page: own leads with an SLA countdown, activities, status and out-of-office days."""

import functools

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpResponseForbidden
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from flows.services.leads import ActivityRefused, activity_log
from reps.models import Absence, Rep
from reps.services import absence_add, absence_delete, rep_status_set
from routing.models import Activity, Lead
from routing.selectors import leads_for_rep


class ActivityLogForm(forms.Form):
    kind = forms.ChoiceField(label=gettext_lazy("What"), choices=Activity.Kind.choices)
    outcome = forms.CharField(label=gettext_lazy("Outcome"), required=False, max_length=2000)


class StatusForm(forms.Form):
    status = forms.ChoiceField(label=gettext_lazy("My status"), choices=Rep.Status.choices)


class AbsenceForm(forms.Form):
    starts_on = forms.DateField(label=gettext_lazy("From"), widget=forms.DateInput(attrs={"type": "date"}))
    ends_on = forms.DateField(label=gettext_lazy("Until"), widget=forms.DateInput(attrs={"type": "date"}))
    reason = forms.CharField(label=gettext_lazy("Reason"), required=False, max_length=200)

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("starts_on") and cleaned.get("ends_on") and cleaned["ends_on"] < cleaned["starts_on"]:
            raise ValidationError(_("The last day cannot be before the first."))
        return cleaned


def _rep_or_none(user) -> Rep | None:
    return Rep.objects.filter(user=user).first()


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
        return redirect("my-leads")

    return wrapper


def home(request):
    if request.user.is_authenticated and request.user.is_staff:
        return redirect("admin:index")
    return redirect("my-leads")


@login_required
def my_leads(request):
    rep = _rep_or_none(request.user)
    if rep is None:
        if request.user.is_staff:
            return redirect("admin:index")
        return HttpResponseForbidden(_("This page is for reps; your account is not a rep."))
    show_all = request.GET.get("all") == "1"
    leads = list(leads_for_rep(rep=rep, include_closed=show_all)[:200])
    now = timezone.now()
    for lead in leads:
        lead.seconds_left = int((lead.sla_due_at - now).total_seconds()) if lead.sla_due_at and lead.first_response_at is None else None
    context = {
        "rep": rep,
        "leads": leads,
        "show_all": show_all,
        "activity_form": ActivityLogForm(),
        "status_form": StatusForm(initial={"status": rep.status}),
        "absence_form": AbsenceForm(),
        "absences": rep.absences.filter(ends_on__gte=timezone.localdate()),
        "now": now,
    }
    return render(request, "routing/my_leads.html", context)


@rep_post
def my_lead_activity(request, rep: Rep, lead_id: int) -> None:
    # A rep sees and works only their own leads.
    lead = get_object_or_404(Lead, pk=lead_id, owner=rep)
    form = ActivityLogForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Choose what you did."))
        return
    try:
        activity_log(lead=lead, kind=form.cleaned_data["kind"], at=timezone.now(), rep_email=rep.email, outcome=form.cleaned_data["outcome"])
    except ActivityRefused as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, _("Logged for lead #%(id)s.") % {"id": lead.pk})


@rep_post
def my_status(request, rep: Rep) -> None:
    form = StatusForm(request.POST)
    if form.is_valid():
        rep_status_set(rep=rep, status=form.cleaned_data["status"])
        messages.success(request, _("Status saved."))


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
def my_absence_delete(request, rep: Rep, absence_id: int) -> None:
    absence_delete(absence=get_object_or_404(Absence, pk=absence_id, rep=rep))
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
