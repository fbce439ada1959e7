from django.urls import path

from . import views

app_name = "portal"

urlpatterns = [
    path("", views.home, name="home"),
    path("services/<slug:service_code>/", views.report, name="report"),
    path("services/<slug:service_code>/nearby/", views.nearby, name="nearby"),
    path("requests/", views.requests_list, name="requests"),
    path("track/", views.track, name="track"),
    path("requests/<str:public_id>/", views.request_page, name="request"),
    path("requests/<str:public_id>/received/", views.confirmation, name="confirmation"),
]
