"""/open311/v2/: the URL suffix (.json or .xml) picks the format."""

from django.urls import path, re_path

from . import openapi, views

F = r"\.(?P<fmt>json|xml)$"

# A path segment never holds NUL (PostgreSQL text cannot hold it): such a path is unknown.
urlpatterns = [
    re_path(r"^discovery" + F, views.discovery, name="open311-discovery"),
    re_path(r"^services" + F, views.services, name="open311-services"),
    re_path(
        r"^services/(?P<service_code>[^/\x00]{1,64})" + F,
        views.service_detail,
        name="open311-service",
    ),
    re_path(r"^requests" + F, views.requests, name="open311-requests"),
    re_path(
        r"^requests/(?P<request_id>[^/\x00]{1,64})" + F,
        views.request_detail,
        name="open311-request",
    ),
    re_path(r"^tokens/(?P<token>[^/\x00]{1,64})" + F, views.token_detail, name="open311-token"),
    path("openapi.json", openapi.openapi_view, name="open311-openapi"),
    re_path(r"^(?P<path>.*)$", views.unknown),
]
