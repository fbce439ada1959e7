from django.urls import path

from . import opendata_views, performance_views, views

app_name = "portal"

urlpatterns = [
    path("", views.home, name="home"),
    path("services/<slug:service_code>/", views.report, name="report"),
    path("services/<slug:service_code>/nearby/", views.nearby, name="nearby"),
    path("requests/", views.requests_list, name="requests"),
    path("track/", views.track, name="track"),
    path("requests/<str:public_id>/", views.request_page, name="request"),
    path("requests/<str:public_id>/received/", views.confirmation, name="confirmation"),
    path("performance/", performance_views.performance, name="performance"),
    path(
        "performance/download/<slug:section>.csv",
        performance_views.performance_csv,
        name="performance_csv",
    ),
    path("open-data/", opendata_views.open_data, name="open_data"),
    *(
        path(
            f"open-data/requests.{fmt}",
            opendata_views.requests_download,
            {"fmt": fmt},
            name=f"open_data_{fmt}",
        )
        for fmt in opendata_views.FORMATS
    ),
]
