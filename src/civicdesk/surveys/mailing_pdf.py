"""The mailing as a printable PDF (reportlab): one postcard (6 x 4 in) per sampled address,
with the address, the survey's link and the address's access code, the text in each chosen
language. The same cards, worded as a reminder, go to the codes that have not answered."""

from __future__ import annotations

import io
from collections.abc import Iterable, Sequence
from xml.sax.saxutils import escape

from django.conf import settings
from django.utils import translation
from django.utils.translation import gettext as _
from reportlab.lib import colors
from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet
from reportlab.lib.units import inch
from reportlab.platypus import (
    Flowable,
    KeepInFrame,
    PageBreak,
    Paragraph,
    SimpleDocTemplate,
    Spacer,
)

from .models import SampleAddress, Survey
from .services import code_display

CARD = (6 * inch, 4 * inch)
MARGIN = 0.3 * inch
INK = colors.HexColor("#1b1b1b")
_styles = getSampleStyleSheet()
TITLE = ParagraphStyle(
    "CardTitle", parent=_styles["Heading2"], fontSize=11, leading=13, textColor=INK
)
BODY = ParagraphStyle(
    "CardBody", parent=_styles["BodyText"], fontSize=8.5, leading=10.5, textColor=INK
)
CODE = ParagraphStyle(
    "CardCode", parent=BODY, fontName="Courier-Bold", fontSize=15, leading=18, spaceBefore=2
)
ADDRESS = ParagraphStyle("CardAddress", parent=BODY, fontName="Helvetica-Bold", fontSize=10)


def _card_text(
    survey: Survey, language: str, url: str, code: str, reminder: bool
) -> list[Flowable]:
    with translation.override(language):
        city = settings.CIVICDESK_CITY_NAME
        title = survey.localized("title", language)
        if reminder:
            lead = _(
                "We have not yet received your answers. Your household was chosen at random: "
                "every answer makes the results more accurate. It takes about ten minutes."
            )
        else:
            lead = _(
                "Your household was chosen at random to tell the City of %(city)s how its "
                "services are doing. It takes about ten minutes."
            ) % {"city": city}
        how = _("Answer at %(url)s with your access code:") % {"url": url}
        return [
            Paragraph(escape(title), TITLE),
            Paragraph(escape(lead), BODY),
            Paragraph(escape(how), BODY),
            Paragraph(escape(code_display(code)), CODE),
            Spacer(1, 4),
        ]


def mailing_pdf(
    *,
    survey: Survey,
    addresses: Iterable[SampleAddress],
    url: str,
    languages: Sequence[str],
    reminder: bool = False,
) -> bytes:
    """One card per address, in the order given."""
    out = io.BytesIO()
    doc = SimpleDocTemplate(
        out,
        pagesize=CARD,
        leftMargin=MARGIN,
        rightMargin=MARGIN,
        topMargin=MARGIN,
        bottomMargin=MARGIN,
        title=survey.title,
        author=str(settings.CIVICDESK_CITY_NAME),
        subject="Survey reminder" if reminder else "Survey mailing",
    )
    width, height = CARD[0] - 2 * MARGIN, CARD[1] - 2 * MARGIN
    story: list[Flowable] = []
    for address in addresses:
        content: list[Flowable] = [Paragraph(escape(address.address), ADDRESS), Spacer(1, 4)]
        for language in languages:
            content += _card_text(survey, language, url, address.code, reminder)
        story.append(KeepInFrame(width, height, content, mode="shrink"))
        story.append(PageBreak())
    if not story:
        story = [Paragraph(escape(_("No addresses to mail.")), BODY)]
    else:
        story.pop()  # no empty page after the last card
    doc.build(story)
    return out.getvalue()
