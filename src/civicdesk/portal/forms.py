"""Forms of the resident portal. The report form is built from a service's questions; the
rules themselves (answers, location, contact) are checked by the core's ``request_create``,
whose field errors are shown next to the fields they name."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from civicdesk.catalog.models import Datatype, Service, ServiceAttribute
from civicdesk.errors import InvalidInput
from civicdesk.i18n import current_language

MAX_PHOTOS = 3


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    widget = MultipleFileInput

    def clean(self, data: Any, initial: Any = None) -> list[Any]:
        files = data if isinstance(data, list | tuple) else ([data] if data else [])
        if len(files) > MAX_PHOTOS:
            raise forms.ValidationError(_("Attach at most %(n)s photos.") % {"n": MAX_PHOTOS})
        return list(files)


class AnswerChoiceField(forms.ChoiceField):
    """Choices whose membership the core checks, so that every problem shows at once."""

    def valid_value(self, value: Any) -> bool:
        return True


class AnswerMultipleChoiceField(forms.MultipleChoiceField):
    def valid_value(self, value: Any) -> bool:
        return True


def attribute_field_name(code: str) -> str:
    return f"attribute_{code}"


def _attribute_field(attribute: ServiceAttribute, language: str) -> forms.Field:
    label = attribute.localized("label", language)
    help_text = attribute.localized("help_text", language)
    common: dict[str, Any] = {"label": label, "help_text": help_text, "required": False}
    choices = [
        (str(v["key"]), attribute.value_name(str(v["key"]), language)) for v in attribute.values
    ]
    if attribute.datatype == Datatype.SINGLEVALUELIST:
        return AnswerChoiceField(choices=choices, widget=forms.RadioSelect, **common)
    if attribute.datatype == Datatype.MULTIVALUELIST:
        return AnswerMultipleChoiceField(
            choices=choices, widget=forms.CheckboxSelectMultiple, **common
        )
    if attribute.datatype == Datatype.NUMBER:
        return forms.CharField(widget=forms.TextInput(attrs={"inputmode": "decimal"}), **common)
    if attribute.datatype == Datatype.DATETIME:
        return forms.CharField(
            widget=forms.DateTimeInput(attrs={"type": "datetime-local"}), **common
        )
    if attribute.datatype == Datatype.TEXT:
        return forms.CharField(widget=forms.Textarea(attrs={"rows": 4}), **common)
    return forms.CharField(max_length=500, **common)


class ReportForm(forms.Form):
    """Report a problem for one service."""

    description = forms.CharField(
        label=_("Describe the problem"),
        required=False,
        max_length=4000,
        widget=forms.Textarea(attrs={"rows": 5}),
        help_text=_("What is wrong, and anything that helps the crew find it."),
    )
    address = forms.CharField(
        label=_("Address or nearest intersection"),
        required=False,
        max_length=255,
        help_text=_("Type an address, or choose the place on the map."),
        widget=forms.TextInput(attrs={"autocomplete": "street-address"}),
    )
    lat = forms.CharField(required=False, widget=forms.HiddenInput)
    long = forms.CharField(required=False, widget=forms.HiddenInput)
    photos = MultipleFileField(
        label=_("Photos (optional)"),
        required=False,
        help_text=_("Up to 3 photos, JPEG or PNG. Location and camera details are removed."),
        widget=MultipleFileInput(attrs={"accept": "image/jpeg,image/png,image/webp,image/gif"}),
    )
    name = forms.CharField(
        label=_("Your name"),
        required=False,
        max_length=200,
        widget=forms.TextInput(attrs={"autocomplete": "name"}),
    )
    email = forms.CharField(
        label=_("Email"),
        required=False,
        max_length=254,
        widget=forms.EmailInput(attrs={"autocomplete": "email"}),
        help_text=_("We send updates here."),
    )
    phone = forms.CharField(
        label=_("Phone"),
        required=False,
        max_length=32,
        widget=forms.TextInput(attrs={"type": "tel", "autocomplete": "tel"}),
    )
    sms_opt_in = forms.BooleanField(
        label=_("Send me text messages about this request"), required=False
    )

    def __init__(self, *args: Any, service: Service, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.service = service
        language = current_language()
        self.questions: list[tuple[ServiceAttribute, str]] = []
        self.information: list[str] = []
        for attribute in service.attributes.all().order_by("order", "code"):
            if not attribute.variable:
                self.information.append(attribute.localized("label", language))
                continue
            name = attribute_field_name(attribute.code)
            self.fields[name] = _attribute_field(attribute, language)
            self.fields[name].is_required_question = attribute.required  # type: ignore[attr-defined]
            self.questions.append((attribute, name))
        if service.contact_required:
            self.fields["email"].help_text = _(
                "This service needs an email address or a phone number so that staff can "
                "call you back."
            )

    def question_fields(self) -> list[forms.BoundField]:
        return [self[name] for _, name in self.questions]

    def answers(self) -> dict[str, Any]:
        return {a.code: self.cleaned_data.get(name) for a, name in self.questions}

    def add_core_errors(self, error: InvalidInput) -> None:
        """Show the core's field errors next to the fields they name."""
        mapping = {
            "location": "address",
            "address_string": "address",
            "lat": "address",
            "long": "address",
            "media": "photos",
            "preferred_language": None,
        }
        for field, messages in error.field_errors.items():
            if field == "location":  # the API's wording names lat/long; residents see a map
                messages = [str(_("Type an address, or choose the place on the map."))]
            target: str | None = field
            if field.startswith("attribute[") and field.endswith("]"):
                target = attribute_field_name(field[len("attribute[") : -1])
            target = mapping.get(field, target)
            if target not in self.fields:
                target = None
            for message in messages:
                self.add_error(target, message)


class FollowForm(forms.Form):
    email = forms.CharField(
        label=_("Email"),
        required=False,
        max_length=254,
        widget=forms.EmailInput(attrs={"autocomplete": "email"}),
    )
    phone = forms.CharField(
        label=_("Mobile phone for text messages"),
        required=False,
        max_length=32,
        widget=forms.TextInput(attrs={"type": "tel", "autocomplete": "tel"}),
    )


class ReopenForm(forms.Form):
    reason = forms.CharField(
        label=_("What is still wrong?"), max_length=4000, widget=forms.Textarea(attrs={"rows": 3})
    )


class TrackForm(forms.Form):
    public_id = forms.CharField(
        label=_("Request number"), max_length=32, help_text=_("For example 26-004817.")
    )
