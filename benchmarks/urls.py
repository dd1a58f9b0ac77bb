"""The project's URLs and the benchmark's floor view (`benchmarks.settings` only; see benchmarks/floor.py)."""

from django.urls import path

from benchmarks.floor import floor
from leadrouter.urls import handler400, handler403, handler404, handler500
from leadrouter.urls import urlpatterns as project_urlpatterns

urlpatterns = [path("bench/floor/", floor, name="bench-floor"), *project_urlpatterns]

__all__ = ["urlpatterns", "handler400", "handler403", "handler404", "handler500"]
