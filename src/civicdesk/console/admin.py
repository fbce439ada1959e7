"""Knowledge-base articles in the admin. Saving goes through ``knowledge_article_save``, as
in the console's editor, so the search text and "updated by" stay right."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from civicdesk.accounts.models import User

from .models import KnowledgeArticle
from .services import knowledge_article_save


@admin.register(KnowledgeArticle)
class KnowledgeArticleAdmin(admin.ModelAdmin):
    list_display = ("title", "service", "published", "updated_at", "updated_by")
    list_filter = ("published", "service__department", "service")
    list_select_related = ("service", "updated_by")
    search_fields = ("title", "body", "search_text")
    autocomplete_fields = ("service",)
    readonly_fields = ("updated_at", "updated_by")
    fieldsets = (
        (
            None,
            {
                "fields": ("title", "slug", "body", "service", "published"),
                "description": "What call takers read while on the phone: what to ask and what "
                "to tell the caller. Supervisors can also write articles in the staff console "
                "(Knowledge base).",
            },
        ),
        (
            "Other languages",
            {
                "fields": ("translations",),
                "description": 'As JSON: {"es": {"title": "...", "body": "..."}}.',
            },
        ),
        ("Changes", {"fields": ("updated_at", "updated_by")}),
    )

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        actor = request.user if isinstance(request.user, User) else None
        knowledge_article_save(article=obj, actor=actor)
