"""URL map. The resident portal, staff console and Open311 API mount here as they arrive."""

from allauth.account.decorators import secure_admin_login
from django.contrib import admin
from django.urls import include, path

from civicdesk.ops import views as ops_views
from civicdesk.servicerequests import views as media_views

admin.site.site_header = "civicdesk administration"
admin.site.site_title = "civicdesk"
admin.site.index_title = "311 program configuration"
# The admin signs in through the same pages (and the same second step) as the console.
admin.site.login = secure_admin_login(admin.site.login)  # type: ignore[method-assign]

urlpatterns = [
    path("", include("civicdesk.portal.urls")),
    path("staff/", include("civicdesk.console.urls")),
    path("", include("civicdesk.surveys.urls")),
    path("i18n/", include("django.conf.urls.i18n")),
    path("healthz", ops_views.healthz, name="healthz"),
    path("accounts/", include("allauth.urls")),
    path("admin/", admin.site.urls),
    path("open311/v2/", include("civicdesk.open311.urls")),
    path("media/<path:name>", media_views.media_file, name="media"),
]
