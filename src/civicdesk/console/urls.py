"""The staff console, mounted at /staff/."""

from django.urls import path

from . import budget_views, performance_views, views

app_name = "console"

urlpatterns = [
    path("login/", views.login, name="login"),
    path("logout/", views.LogoutView.as_view(), name="logout"),
    path("", views.queue, name="queue"),
    path("bulk/", views.bulk, name="bulk"),
    path("requests/<str:public_id>/", views.request_page, name="request"),
    path("requests/<str:public_id>/<slug:action>/", views.request_action, name="request_action"),
    path("intake/", views.intake, name="intake"),
    path("intake/<slug:service_code>/", views.intake_service, name="intake_service"),
    path("intake/received/<str:public_id>/", views.intake_done, name="intake_done"),
    path("kb/", views.knowledge, name="kb"),
    path("kb/new/", views.knowledge_edit, name="kb_create"),
    path("kb/<slug:slug>/", views.knowledge_article, name="kb_article"),
    path("kb/<slug:slug>/edit/", views.knowledge_edit, name="kb_edit"),
    path("performance/", performance_views.performance, name="performance"),
    path(
        "performance/download/<slug:section>.csv",
        performance_views.performance_csv,
        name="performance_csv",
    ),
    path("performance/budget/", budget_views.budget, name="performance-budget"),
    path("performance/budget/costs/", budget_views.budget_costs, name="performance-budget-costs"),
    path(
        "performance/budget/costs/upload/",
        budget_views.budget_costs_upload,
        name="performance-budget-costs-upload",
    ),
    path(
        "performance/budget/unit-costs.csv",
        budget_views.budget_costs_csv,
        name="performance-budget-costs-csv",
    ),
]
