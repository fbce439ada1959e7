"""Survey weighting and design-based estimates: pure functions over files and arrays, no
Django. `survey_analyze` is the whole analysis; the command `civicdesk survey analyze` is
its door."""

from civicdesk.surveys.analysis.analyze import AnalysisResult, survey_analyze
from civicdesk.surveys.analysis.errors import SurveyInputError

__all__ = ["AnalysisResult", "SurveyInputError", "survey_analyze"]
