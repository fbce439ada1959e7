"""The ways a request comes in. Apart from the models so that code which must not need the
app registry (the import's reading process) can name them."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _


class Channel(models.TextChoices):
    WEB = "web", _("Web")
    PHONE = "phone", _("Phone")
    MOBILE_APP = "mobile_app", _("Mobile app")
    API = "api", _("API")
    EMAIL = "email", _("Email")
    WALK_IN = "walk_in", _("Walk-in")
    STAFF = "staff", _("Staff")
