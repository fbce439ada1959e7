from tests.conftest import DOWNTOWN, make_request


def test_demo_city_request_is_routed_and_due(city: None) -> None:
    request = make_request(at=DOWNTOWN)
    assert request.public_id.count("-") == 1
    assert request.department.code == "PW"
    assert request.district is not None and request.district.code == "1"
    assert request.due_at is not None and request.due_at > request.requested_at
