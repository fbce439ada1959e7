"""Answers to a service's questions (Open311 attributes): how each datatype is checked and
normalised, how problems are reported to the resident, and the rules for the questions
themselves."""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.core.exceptions import ValidationError

from civicdesk.catalog.attributes import (
    MAX_STRING_LENGTH,
    MAX_TEXT_LENGTH,
    answers_clean,
    attribute_definition_check,
)
from civicdesk.catalog.models import Datatype, Department, Service, ServiceAttribute
from civicdesk.errors import InvalidInput
from civicdesk.servicerequests.models import ServiceRequest
from tests.conftest import DOWNTOWN, make_request

CHI = ZoneInfo("America/Chicago")


def choices(*keys: str) -> list[dict[str, Any]]:
    return [{"key": key, "name": key.replace("_", " ").title()} for key in keys]


@pytest.fixture
def service(city: None) -> Service:
    """A service asking one question of each Open311 datatype, plus an informational text."""
    service = Service.objects.create(
        service_code="test-questions",
        name="Test questions",
        department=Department.objects.get(code="PW"),
    )
    specs: list[tuple[str, str, bool, bool, list[dict[str, Any]]]] = [
        # code, datatype, required, variable, values
        ("plate", Datatype.STRING, False, True, []),
        ("count", Datatype.NUMBER, True, True, []),
        ("seen_at", Datatype.DATETIME, False, True, []),
        ("details", Datatype.TEXT, False, True, []),
        ("size", Datatype.SINGLEVALUELIST, True, True, choices("small", "large", "very_large")),
        ("carts", Datatype.MULTIVALUELIST, False, True, choices("trash", "recycling", "yard")),
        ("safety_note", Datatype.TEXT, True, False, []),
    ]
    for order, (code, datatype, required, variable, values) in enumerate(specs, start=1):
        ServiceAttribute.objects.create(
            service=service,
            code=code,
            datatype=datatype,
            label=code.replace("_", " ").capitalize(),
            required=required,
            variable=variable,
            order=order,
            values=values,
        )
    return service


REQUIRED = {"count": "2", "size": "small"}


def clean(service: Service, **answers: Any) -> dict[str, Any]:
    return answers_clean(service.attributes.all(), {**REQUIRED, **answers})


def error_of(service: Service, **answers: Any) -> dict[str, list[str]]:
    with pytest.raises(InvalidInput) as exc:
        clean(service, **answers)
    assert exc.value.code == "invalid_attribute"
    return exc.value.field_errors


# --------------------------------------------------------------------------------------
# Numbers


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("12", 12),
        (" 12 ", 12),
        ("3.5", 3.5),
        ("12.0", 12),
        ("-4", -4),
        ("0", 0),
        (7, 7),
        (2.25, 2.25),
        (["5"], 5),  # a form field that arrived as a one-item list
    ],
)
def test_a_number_is_stored_as_a_number(service: Service, raw: Any, expected: Any) -> None:
    cleaned = clean(service, count=raw)
    assert cleaned["count"] == expected
    assert type(cleaned["count"]) is type(expected)


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("abc", "'abc' is not a number"),
        ("12abc", "'12abc' is not a number"),
        ("1,5", "'1,5' is not a number"),
        ("nan", "'nan' is not a number"),
        ("NaN", "'NaN' is not a number"),
        ("inf", "'inf' is not a number"),
        ("-Infinity", "'-Infinity' is not a number"),
        ("1e400", "'1e400' is not a finite number"),
        (float("nan"), "nan is not a number"),
        ("1_000", "'1_000' is not a number"),
        ("\u0661\u0662", "'\u0661\u0662' is not a number"),
        ({"a": 1}, "expected text, got dict"),
        (True, "must be a number"),
        (False, "must be a number"),
        (["1", "2"], "a number takes one answer, got 2"),
    ],
)
def test_a_number_that_is_not_one_is_refused(service: Service, raw: Any, message: str) -> None:
    assert error_of(service, count=raw) == {"attribute[count]": [message]}


# --------------------------------------------------------------------------------------
# Dates and times


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        # A time without a zone is the city's local time (CDT in May, CST in January).
        ("2026-05-01T14:30", "2026-05-01T14:30:00-05:00"),
        ("2026-05-01 14:30", "2026-05-01T14:30:00-05:00"),
        ("2026-01-15T09:00:00", "2026-01-15T09:00:00-06:00"),
        (dt.datetime(2026, 1, 15, 9, 0), "2026-01-15T09:00:00-06:00"),
        # A date alone is the start of that local day.
        ("2026-05-01", "2026-05-01T00:00:00-05:00"),
        (dt.date(2026, 12, 24), "2026-12-24T00:00:00-06:00"),
        # A time with a zone keeps it.
        ("2026-05-01T14:30:00Z", "2026-05-01T14:30:00+00:00"),
        ("2026-05-01T14:30:00+02:00", "2026-05-01T14:30:00+02:00"),
        (dt.datetime(2026, 5, 1, 19, 30, tzinfo=dt.UTC), "2026-05-01T19:30:00+00:00"),
    ],
)
def test_a_datetime_is_stored_in_iso_8601_with_its_offset(
    service: Service, raw: Any, expected: str
) -> None:
    cleaned = clean(service, seen_at=raw)
    assert cleaned["seen_at"] == expected
    assert dt.datetime.fromisoformat(cleaned["seen_at"]).utcoffset() is not None


@pytest.mark.parametrize(
    "raw", ["last tuesday", "2026-13-01", "2026-02-30T10:00", "14:30", "01/05/2026", 12]
)
def test_a_datetime_that_is_not_one_is_refused(service: Service, raw: Any) -> None:
    assert error_of(service, seen_at=raw) == {
        "attribute[seen_at]": [
            f"{raw!r} is not a date and time (use ISO 8601, e.g. 2026-05-01T14:30)"
        ]
    }


# --------------------------------------------------------------------------------------
# Short and long text


def test_text_is_trimmed(service: Service) -> None:
    cleaned = clean(service, plate="  ABC 123 ", details="\n  Blue sedan, flat tyre.  \n")
    assert cleaned["plate"] == "ABC 123"
    assert cleaned["details"] == "Blue sedan, flat tyre."


def test_a_short_answer_is_limited_to_500_characters(service: Service) -> None:
    assert MAX_STRING_LENGTH == 500
    assert clean(service, plate="x" * 500)["plate"] == "x" * 500
    assert error_of(service, plate="x" * 501) == {
        "attribute[plate]": ["must be at most 500 characters (got 501)"]
    }


def test_a_long_answer_is_limited_to_4000_characters(service: Service) -> None:
    assert MAX_TEXT_LENGTH == 4000
    # Surrounding spaces do not count against the limit.
    assert clean(service, details=" " + "y" * 4000 + " ")["details"] == "y" * 4000
    assert error_of(service, details="y" * 4001) == {
        "attribute[details]": ["must be at most 4000 characters (got 4001)"]
    }


def test_a_short_answer_takes_one_value(service: Service) -> None:
    assert error_of(service, plate=["ABC", "DEF"]) == {
        "attribute[plate]": ["this question takes one answer, got 2"]
    }


# --------------------------------------------------------------------------------------
# Choices


def test_one_choice_must_be_one_of_the_choices(service: Service) -> None:
    assert clean(service, size=" large ")["size"] == "large"
    assert error_of(service, size="huge") == {
        "attribute[size]": ["'huge' is not one of the choices (small, large, very_large)"]
    }
    # The shown name is not the key.
    assert error_of(service, size="Large") == {
        "attribute[size]": ["'Large' is not one of the choices (small, large, very_large)"]
    }
    assert error_of(service, size=["small", "large"]) == {
        "attribute[size]": ["this question takes one answer, got 2"]
    }


def test_several_choices_are_a_list_without_duplicates_in_the_order_given(
    service: Service,
) -> None:
    assert clean(service, carts=["recycling", "trash"])["carts"] == ["recycling", "trash"]
    assert clean(service, carts=["trash", "recycling", "trash", " trash "])["carts"] == [
        "trash",
        "recycling",
    ]
    # A single key is a list of one; empty items are dropped.
    assert clean(service, carts="yard")["carts"] == ["yard"]
    assert clean(service, carts=["yard", ""])["carts"] == ["yard"]


def test_several_choices_refuse_a_key_that_is_not_a_choice(service: Service) -> None:
    assert error_of(service, carts=["trash", "compost"]) == {
        "attribute[carts]": ["'compost' is not one of the choices (trash, recycling, yard)"]
    }


# --------------------------------------------------------------------------------------
# Required, unknown and informational


@pytest.mark.parametrize("blank", [None, "", "   ", [], [""], ["", " "]])
def test_a_required_question_needs_an_answer(service: Service, blank: Any) -> None:
    assert error_of(service, count=blank) == {"attribute[count]": ["an answer is required"]}


def test_an_optional_question_may_be_left_blank(service: Service) -> None:
    cleaned = answers_clean(
        service.attributes.all(), {**REQUIRED, "plate": "", "carts": [], "seen_at": None}
    )
    # Blank optional answers are left out rather than stored empty.
    assert cleaned == {"count": 2, "size": "small"}


def test_no_answers_at_all_names_every_required_question(service: Service) -> None:
    with pytest.raises(InvalidInput) as exc:
        answers_clean(service.attributes.all(), None)
    assert exc.value.field_errors == {
        "attribute[count]": ["an answer is required"],
        "attribute[size]": ["an answer is required"],
    }


def test_an_answer_to_a_question_the_service_does_not_ask_is_refused(service: Service) -> None:
    assert error_of(service, colour="red") == {
        "attribute[colour]": ["this service has no such question"]
    }


def test_an_informational_text_needs_no_answer_and_keeps_none(service: Service) -> None:
    # safety_note is marked required but is not a question (variable=False): nothing is
    # asked, and a client that echoes it back is not refused; the echo is not stored.
    assert clean(service) == {"count": 2, "size": "small"}
    assert clean(service, safety_note="Stay away from the hole.") == {"count": 2, "size": "small"}


def test_every_bad_answer_is_reported_at_once(service: Service) -> None:
    with pytest.raises(InvalidInput) as exc:
        answers_clean(
            service.attributes.all(),
            {
                "count": "lots",
                "seen_at": "yesterday",
                "carts": ["trash", "glass"],
                "colour": "red",
                "plate": "ok",
            },
        )
    assert exc.value.code == "invalid_attribute"
    assert exc.value.field_errors == {
        "attribute[colour]": ["this service has no such question"],
        "attribute[count]": ["'lots' is not a number"],
        "attribute[seen_at]": [
            "'yesterday' is not a date and time (use ISO 8601, e.g. 2026-05-01T14:30)"
        ],
        "attribute[size]": ["an answer is required"],
        "attribute[carts]": ["'glass' is not one of the choices (trash, recycling, yard)"],
    }
    assert "attribute[count]: 'lots' is not a number" in str(exc.value)


def test_a_full_set_of_answers_is_normalised(service: Service) -> None:
    cleaned = answers_clean(
        service.attributes.all(),
        {
            "plate": " IL 4512 ",
            "count": "3",
            "seen_at": "2026-11-20T07:15",
            "details": "Left by the curb.",
            "size": "very_large",
            "carts": ["yard", "trash", "yard"],
        },
    )
    assert cleaned == {
        "plate": "IL 4512",
        "count": 3,
        "seen_at": "2026-11-20T07:15:00-06:00",
        "details": "Left by the curb.",
        "size": "very_large",
        "carts": ["yard", "trash"],
    }


# --------------------------------------------------------------------------------------
# Through intake, on the demo services


def test_intake_stores_normalised_answers(city: None) -> None:
    request = make_request(
        "missed-pickup",
        attributes={
            "carts_missed": ["recycling", "trash", "recycling"],
            "cart_out_time": "2026-11-23T06:30",
        },
    )
    request.refresh_from_db()
    assert request.attributes == {
        "carts_missed": ["recycling", "trash"],
        "cart_out_time": "2026-11-23T06:30:00-06:00",
    }
    vehicle = make_request("abandoned-vehicle")  # days_parked given as the text "9"
    vehicle.refresh_from_db()
    assert vehicle.attributes == {"vehicle_description": "Blue sedan", "days_parked": 9}


def test_intake_ignores_an_informational_text(city: None) -> None:
    streetlight = Service.objects.get(service_code="streetlight-out")
    assert streetlight.attributes.get(code="one_light_info").variable is False
    request = make_request(
        "streetlight-out", attributes={"problem": "flickering", "one_light_info": "Read this"}
    )
    request.refresh_from_db()
    assert request.attributes == {"problem": "flickering"}


def test_intake_reports_bad_answers_with_other_problems_and_writes_nothing(city: None) -> None:
    before = ServiceRequest.objects.count()
    with pytest.raises(InvalidInput) as exc:
        make_request(
            "noise-complaint",
            attributes={"source": "karaoke", "occurs_at": "every night", "volume": "11"},
            description="x" * 4001,
        )
    assert exc.value.field_errors == {
        "description": ["must be at most 4000 characters (got 4001)"],
        "attribute[volume]": ["this service has no such question"],
        "attribute[source]": [
            "'karaoke' is not one of the choices "
            "(music_party, construction, vehicle, business, fireworks, other)"
        ],
        "attribute[occurs_at]": [
            "'every night' is not a date and time (use ISO 8601, e.g. 2026-05-01T14:30)"
        ],
    }
    assert ServiceRequest.objects.count() == before


def test_intake_names_a_missing_required_answer_by_its_label(city: None) -> None:
    with pytest.raises(InvalidInput) as exc:
        make_request("pothole", attributes={"size": "large"})
    assert exc.value.field_errors == {"attribute[in_traffic_lane]": ["an answer is required"]}
    assert not ServiceRequest.objects.filter(lat=DOWNTOWN[0], service__service_code="pothole")


# --------------------------------------------------------------------------------------
# The rules for the questions themselves


@pytest.mark.parametrize(
    ("datatype", "values"),
    [
        (Datatype.STRING, []),
        (Datatype.NUMBER, []),
        (Datatype.DATETIME, []),
        (Datatype.TEXT, []),
        (Datatype.SINGLEVALUELIST, choices("yes")),
        (Datatype.MULTIVALUELIST, choices("a", "b", "c")),
    ],
)
def test_a_good_question_definition_passes(datatype: str, values: list[Any]) -> None:
    attribute_definition_check(datatype=datatype, values=values)
    ServiceAttribute(code="q", datatype=datatype, label="Q", values=values).clean()


def test_an_informational_text_is_a_good_definition() -> None:
    attribute_definition_check(datatype=Datatype.TEXT, values=[], variable=False)


BAD_DEFINITIONS = [
    pytest.param(
        "boolean", [], {"datatype": ["'boolean' is not an Open311 datatype"]}, id="datatype"
    ),
    pytest.param(
        Datatype.SINGLEVALUELIST,
        {"yes": "Yes"},
        {"values": ["must be a list"]},
        id="values-not-a-list",
    ),
    pytest.param(
        Datatype.SINGLEVALUELIST,
        [],
        {"values": ["a singlevaluelist question needs at least one choice"]},
        id="no-choices",
    ),
    pytest.param(
        Datatype.MULTIVALUELIST,
        [{"key": "", "name": "Empty"}],
        {"values": ["each choice needs a non-empty key and a name"]},
        id="empty-key",
    ),
    pytest.param(
        Datatype.MULTIVALUELIST,
        [{"name": "No key"}],
        {"values": ["each choice needs a non-empty key and a name"]},
        id="missing-key",
    ),
    pytest.param(
        Datatype.SINGLEVALUELIST,
        [{"key": 1, "name": "One"}],
        {"values": ["each choice needs a non-empty key and a name"]},
        id="key-not-text",
    ),
    pytest.param(
        Datatype.SINGLEVALUELIST,
        ["yes", "no"],
        {"values": ["each choice needs a non-empty key and a name"]},
        id="choice-not-an-object",
    ),
    pytest.param(
        Datatype.SINGLEVALUELIST,
        [*choices("yes", "no"), {"key": "yes", "name": "Yes again"}],
        {"values": ["choice keys must be unique"]},
        id="duplicate-key",
    ),
    pytest.param(
        Datatype.MULTIVALUELIST,
        [{"key": "a", "name": "A"}, {"key": "b"}],
        {"values": ["each choice needs a name"]},
        id="missing-name",
    ),
    pytest.param(
        Datatype.MULTIVALUELIST,
        [{"key": "a", "name": ""}],
        {"values": ["each choice needs a name"]},
        id="empty-name",
    ),
    pytest.param(
        Datatype.STRING,
        choices("a"),
        {"values": ["a string question has no list of choices"]},
        id="choices-on-string",
    ),
    pytest.param(
        Datatype.NUMBER,
        choices("1"),
        {"values": ["a number question has no list of choices"]},
        id="choices-on-number",
    ),
]


@pytest.mark.parametrize(("datatype", "values", "errors"), BAD_DEFINITIONS)
def test_a_bad_question_definition_is_refused(
    datatype: str, values: Any, errors: dict[str, list[str]]
) -> None:
    with pytest.raises(InvalidInput) as exc:
        attribute_definition_check(datatype=datatype, values=values)
    assert exc.value.field_errors == errors


@pytest.mark.parametrize(("datatype", "values", "errors"), BAD_DEFINITIONS)
def test_service_attribute_clean_refuses_a_bad_definition(
    datatype: str, values: Any, errors: dict[str, list[str]]
) -> None:
    attribute = ServiceAttribute(code="q", datatype=datatype, label="Q", values=values)
    with pytest.raises(ValidationError) as exc:
        attribute.clean()
    assert exc.value.message_dict == errors


def test_the_admin_path_full_clean_refuses_a_list_question_without_choices(city: None) -> None:
    attribute = ServiceAttribute(
        service=Service.objects.get(service_code="pothole"),
        code="new_question",
        datatype=Datatype.SINGLEVALUELIST,
        label="New question",
        values=[],
    )
    with pytest.raises(ValidationError) as exc:
        attribute.full_clean()
    assert "values" in exc.value.message_dict
    assert "question needs at least one choice" in exc.value.message_dict["values"][0]


def test_every_demo_question_meets_the_rules(city: None) -> None:
    attributes = list(ServiceAttribute.objects.all())
    assert len(attributes) > 60
    for attribute in attributes:
        attribute.full_clean()
