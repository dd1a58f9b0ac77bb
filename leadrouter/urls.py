from django.contrib import admin
from django.urls import include, path

from routing.views import dashboard, routing_setup

urlpatterns = [
    path("admin/dashboard/", admin.site.admin_view(dashboard), name="leadrouter-dashboard"),
    path("admin/routing-setup/", admin.site.admin_view(routing_setup), name="leadrouter-routing-setup"),
    path("admin/", admin.site.urls),
    path("accounts/", include("django.contrib.auth.urls")),
    path("i18n/", include("django.conf.urls.i18n")),
    path("", include("routing.urls")),
]

# JSON under /api/, Django's usual pages elsewhere (routing/door.py).
handler400 = "routing.door.bad_request"
handler403 = "routing.door.permission_denied"
handler404 = "routing.door.page_not_found"
handler500 = "routing.door.server_error"
