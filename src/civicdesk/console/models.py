"""The knowledge base call takers read while on the phone: what to ask, what to tell."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from civicdesk.catalog.models import Translatable


class KnowledgeArticle(Translatable):
    """An article in the city's default language, with other languages in ``translations``
    (``{"es": {"title": ..., "body": ...}}``, as in the catalogue).

    ``body`` is plain text: paragraphs are separated by a blank line.
    """

    slug = models.SlugField(
        _("short name"),
        max_length=80,
        unique=True,
        blank=True,
        help_text=_("Used in the article's address; made from the title if left empty."),
    )
    title = models.CharField(_("title"), max_length=200)
    body = models.TextField(
        _("text"), help_text=_("Plain text. Leave a blank line between paragraphs.")
    )
    service = models.ForeignKey(
        "catalog.Service",
        verbose_name=_("service"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="knowledge_articles",
        help_text=_("Shown beside phone intake for this service. Empty: a general article."),
    )
    published = models.BooleanField(
        _("published"), default=True, help_text=_("Unpublished articles are seen by editors only.")
    )
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("updated by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    updated_at = models.DateTimeField(_("updated"))
    # Every language's title and text, lower case without accents: "recoleccion" finds
    # "Recolección". Kept up to date by ``knowledge_article_save``.
    search_text = models.TextField(blank=True, editable=False)

    class Meta:
        ordering = ["title"]
        verbose_name = _("knowledge article")
        verbose_name_plural = _("knowledge articles")
        indexes = [models.Index(fields=["service", "published"])]

    def __str__(self) -> str:
        return self.title
