"""URL map. The resident portal, staff console and Open311 API mount here as they arrive."""

from django.contrib import admin
from django.urls import path

from civicdesk.ops import views as ops_views

admin.site.site_header = "civicdesk administration"
admin.site.site_title = "civicdesk"
admin.site.index_title = "311 program configuration"

urlpatterns = [
    path("", ops_views.home, name="home"),
    path("healthz", ops_views.healthz, name="healthz"),
    path("admin/", admin.site.urls),
]
