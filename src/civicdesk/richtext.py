"""Rich text written by staff (knowledge-base articles): a small set of formatting tags,
cleaned with nh3 when saved and again when shown. Text from the public is never rich: the
templates escape it.

Allowed: paragraphs and line breaks, bold and italic, headings (h3, h4), lists, and links
(http, https, mailto only; they open with rel="noopener noreferrer"). Everything else
(scripts, styles, event handlers, images, frames, forms) is removed; its text stays."""

from __future__ import annotations

import re

import nh3
from django.utils.safestring import SafeString, mark_safe

TAGS = {"p", "br", "strong", "b", "em", "i", "h3", "h4", "ul", "ol", "li", "a"}
ATTRIBUTES = {"a": {"href", "title"}}
URL_SCHEMES = {"http", "https", "mailto"}
BLOCK_START = re.compile(r"^\s*<(p|ul|ol|h3|h4)[\s>]", re.IGNORECASE)
PARAGRAPH_BREAK = re.compile(r"\n\s*\n")


def rich_text_clean(text: str) -> str:
    """The allowed subset of ``text``'s HTML; anything else is stripped."""
    return nh3.clean(
        text,
        tags=TAGS,
        attributes=ATTRIBUTES,
        url_schemes=URL_SCHEMES,
        link_rel="noopener noreferrer",
        strip_comments=True,
    )


def rich_text_html(text: str) -> SafeString:
    """Cleaned HTML ready for a page: a blank line starts a paragraph, a single newline is a
    line break (as in the plain-text articles written before formatting was allowed)."""
    blocks = []
    for chunk in PARAGRAPH_BREAK.split(rich_text_clean(text).strip()):
        if not chunk.strip():
            continue
        if BLOCK_START.match(chunk):
            blocks.append(chunk.strip())
        else:
            blocks.append("<p>" + chunk.strip().replace("\n", "<br>") + "</p>")
    # The output of nh3 is safe by construction; only <p> and <br> were added around it.
    return mark_safe("\n".join(blocks))  # noqa: S308
