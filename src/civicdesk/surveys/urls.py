"""Survey pages: the resident's under /surveys/, the staff's under /staff/surveys/."""

from django.urls import path

from . import results_views, staff_views, views

app_name = "surveys"

STAFF = "staff/surveys/<slug:slug>/"

urlpatterns = [
    path("surveys/<slug:slug>/", views.start, name="start"),
    path("surveys/<slug:slug>/open/", views.open_link, name="open"),
    path("surveys/<slug:slug>/page/<int:number>/", views.page, name="page"),
    path("surveys/<slug:slug>/thanks/", views.thanks, name="thanks"),
    path("staff/surveys/", staff_views.survey_list, name="staff_list"),
    path("staff/surveys/new/", staff_views.survey_edit, name="staff_create"),
    path(STAFF, staff_views.survey_detail, name="staff_survey"),
    path(STAFF + "edit/", staff_views.survey_edit, name="staff_edit"),
    path(
        STAFF + "publish/", staff_views.survey_status, {"action": "publish"}, name="staff_publish"
    ),
    path(STAFF + "close/", staff_views.survey_status, {"action": "close"}, name="staff_close"),
    path(STAFF + "sections/new/", staff_views.section_edit, name="staff_section_create"),
    path(STAFF + "sections/<int:section_id>/", staff_views.section_edit, name="staff_section"),
    path(
        STAFF + "sections/<int:section_id>/questions/new/",
        staff_views.question_edit,
        name="staff_question_create",
    ),
    path(STAFF + "questions/<int:question_id>/", staff_views.question_edit, name="staff_question"),
    path(STAFF + "preview/", staff_views.preview, name="staff_preview"),
    path(STAFF + "sample/", staff_views.sample, name="staff_sample"),
    path(STAFF + "mailing.pdf", staff_views.mailing, name="staff_mailing"),
    path(STAFF + "reminders.pdf", staff_views.reminders, name="staff_reminders"),
    path(STAFF + "paper/", staff_views.paper, name="staff_paper"),
    path(STAFF + "tracking/", staff_views.tracking, name="staff_tracking"),
    path(STAFF + "results/", results_views.results, name="staff_results"),
    path(STAFF + "results.csv", results_views.results_csv, name="staff_results_csv"),
    path(STAFF + "results.pdf", results_views.results_report, name="staff_results_pdf"),
    path(STAFF + "results/setup/", results_views.results_setup, name="staff_results_setup"),
]
