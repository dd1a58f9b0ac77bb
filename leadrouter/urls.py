from django.contrib import admin
from django.urls import include, path

from flows.dashboard_views import dashboard_csv, dashboard_leads_csv, dashboard_page
from flows.views import routing_setup
from leadrouter.health import health

urlpatterns = [
    path("admin/dashboard/", admin.site.admin_view(dashboard_page), name="leadrouter-dashboard"),
    path("admin/dashboard/csv/<slug:key>/", admin.site.admin_view(dashboard_csv), name="leadrouter-dashboard-csv"),
    path("admin/dashboard/leads.csv", admin.site.admin_view(dashboard_leads_csv), name="leadrouter-dashboard-leads-csv"),
    path("admin/routing-setup/", admin.site.admin_view(routing_setup), name="leadrouter-routing-setup"),
    path("admin/", admin.site.urls),
    path("accounts/", include("django.contrib.auth.urls")),
    path("i18n/", include("django.conf.urls.i18n")),
    # Answered by leadrouter.health.HealthCheckMiddleware first; the routes keep the paths visible and reversible.
    path("health/", health, name="health"),
    path("health/live/", health, name="health-live"),
    path("", include("flows.urls")),
]

# JSON under /api/, Django's usual pages elsewhere (routing/door.py).
handler400 = "routing.door.bad_request"
handler403 = "routing.door.permission_denied"
handler404 = "routing.door.page_not_found"
handler500 = "routing.door.server_error"
