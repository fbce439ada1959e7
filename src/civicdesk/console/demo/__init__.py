"""The demo city's knowledge-base articles (English with Spanish translations)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from civicdesk.catalog.models import Service
from civicdesk.console.models import KnowledgeArticle
from civicdesk.console.services import knowledge_article_save

ARTICLES = Path(__file__).resolve().parent / "knowledge.json"


def knowledge_articles_load() -> int:
    """Create or update the demo articles (by their short name); returns how many."""
    specs: list[dict[str, Any]] = json.loads(ARTICLES.read_text(encoding="utf-8"))
    services = Service.objects.in_bulk(
        [s["service"] for s in specs if s["service"]], field_name="service_code"
    )
    for spec in specs:
        article = KnowledgeArticle.objects.filter(slug=spec["slug"]).first() or KnowledgeArticle(
            slug=spec["slug"]
        )
        article.title = spec["title"]
        article.body = spec["body"]
        article.translations = spec.get("translations", {})
        article.service = services.get(spec["service"]) if spec["service"] else None
        article.published = True
        knowledge_article_save(article=article)
    return len(specs)
