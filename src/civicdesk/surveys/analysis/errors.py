"""The one error the survey analysis raises for anything wrong with its input."""

from __future__ import annotations


class SurveyInputError(Exception):
    """Input the analysis cannot use. The message names the file, line, column or category
    at fault, in words a survey analyst can act on."""
