from django.urls import path, re_path

from flows import api, dashboard_views, views

urlpatterns = [
    path("api/v1/leads/", api.leads, name="api-leads"),
    path("api/v1/leads/<int:lead_id>/", api.lead_detail, name="api-lead"),
    path("api/v1/leads/<int:lead_id>/activities/", api.activities, name="api-lead-activities"),
    path("api/v1/route/preview", api.route_preview, name="api-route-preview"),
    path("api/v1/route/preview/", api.route_preview),
    path("api/v1/openapi.json", api.openapi, name="api-openapi"),
    re_path(r"^api/", api.not_found),
    path("my-leads/", views.my_leads, name="my-leads"),
    path("my-leads/updates", views.my_leads_updates, name="my-leads-updates"),
    path("my-leads/<int:lead_id>/", views.my_lead_detail, name="my-lead"),
    path("my-leads/<int:lead_id>/activity/", views.my_lead_activity, name="my-lead-activity"),
    path("my-leads/<int:lead_id>/tasks/<int:task_id>/done/", views.my_task_done, name="my-task-done"),
    path("my-leads/<int:lead_id>/reassign/", views.my_lead_reassign, name="my-lead-reassign"),
    path("my-leads/status/", views.my_status, name="my-status"),
    path("my-leads/absences/", views.my_absences, name="my-absences"),
    path("my-leads/notifications/", views.my_notifications, name="my-notifications"),
    path("my-leads/calendar/", views.my_calendar, name="my-calendar"),
    path("my-leads/absences/<int:absence_id>/delete/", views.my_absence_delete, name="my-absence-delete"),
    path("dashboard/wall/", dashboard_views.wall_page, name="dashboard-wall"),
    path("", views.home, name="home"),
]
