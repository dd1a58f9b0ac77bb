from django.contrib import admin
from django.urls import include, path

from flows.views import dashboard, routing_setup

urlpatterns = [
    path("admin/dashboard/", admin.site.admin_view(dashboard), name="leadrouter-dashboard"),
    path("admin/routing-setup/", admin.site.admin_view(routing_setup), name="leadrouter-routing-setup"),
    path("admin/", admin.site.urls),
    path("accounts/", include("django.contrib.auth.urls")),
    path("i18n/", include("django.conf.urls.i18n")),
    path("", include("flows.urls")),
]
