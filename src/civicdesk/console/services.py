"""Writes owned by the console: knowledge-base articles. One function saves an article, from
the console's editor, the admin and the demo loader alike."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.text import slugify

from civicdesk.accounts.models import User
from civicdesk.catalog.selectors import text_fold
from civicdesk.errors import InvalidInput
from civicdesk.richtext import rich_text_clean

from .models import KnowledgeArticle


def _search_text(article: KnowledgeArticle) -> str:
    parts = [article.title, article.body]
    for texts in (article.translations or {}).values():
        if isinstance(texts, dict):
            parts.extend(str(v) for v in texts.values())
    return text_fold("\n".join(parts))


# Path segments of the console's knowledge-base URLs that an article may not take.
_RESERVED_SLUGS = frozenset({"new"})


def _unique_slug(title: str, exclude_id: int | None) -> str:
    base = slugify(title)[:70] or "article"
    if base in _RESERVED_SLUGS:
        base = f"{base}-article"
    slug, n = base, 2
    others = KnowledgeArticle.objects.all()
    if exclude_id is not None:
        others = others.exclude(pk=exclude_id)
    while others.filter(slug=slug).exists():
        slug, n = f"{base}-{n}", n + 1
    return slug


def knowledge_article_save(
    *, article: KnowledgeArticle, actor: User | None = None
) -> KnowledgeArticle:
    """Check and save a new or changed article, recording who changed it and when."""
    article.title = (article.title or "").strip()
    article.body = rich_text_clean(article.body or "").strip()
    translations: dict[str, dict[str, str]] = {}
    for language, texts in (article.translations or {}).items():
        if not isinstance(texts, dict):
            raise InvalidInput({"translations": [f"{language}: expected title and body"]})
        kept = {
            k: (rich_text_clean(str(v)) if k == "body" else str(v)).strip()
            for k, v in texts.items()
            if str(v or "").strip()
        }
        if kept:
            translations[str(language)] = kept
    article.translations = translations
    with transaction.atomic():
        if not article.slug:
            article.slug = _unique_slug(article.title, article.pk)
        article.updated_at = timezone.now()
        article.updated_by = actor
        article.search_text = _search_text(article)
        try:
            article.full_clean()
        except ValidationError as exc:
            raise InvalidInput(
                {field: [str(m) for m in messages] for field, messages in exc.message_dict.items()}
            ) from None
        article.save()
    return article
