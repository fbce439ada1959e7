"""GeoReport v2 endpoints: thin adapters that parse arguments, call the core's services and
selectors, and answer in the format the URL suffix names. Every error is the
specification's list of ``{code, description}``: 404 for an unknown resource, 403 for a
missing or bad api_key, 429 past a key's rate, 400 for anything else."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from functools import wraps
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt

from civicdesk.audit.context import client_ip
from civicdesk.catalog.models import Service
from civicdesk.errors import CivicdeskError, InvalidInput, NotFound, RateLimited
from civicdesk.ratelimit import rate_limit_hit, rate_setting
from civicdesk.servicerequests.models import Channel
from civicdesk.servicerequests.services import (
    ContactInput,
    request_create,
    request_media_attach,
)

from . import render
from .keys import BadApiKey, apikey_check, rate_limit_check
from .models import ApiKey, ApiSubmission
from .params import REQUEST_ID_RE, request_query_parse
from .selectors import (
    catalogue_changed_at,
    iso,
    requests_page,
    service_definition,
    services_list,
)

MAX_BODY_FIELDS = 200
MAX_UPLOADS = 5
SPECIFICATION = "http://wiki.open311.org/GeoReport_v2"
View = Callable[..., HttpResponse]


def _field_messages(exc: InvalidInput) -> list[str]:
    return [
        message if field == "__all__" else f"{field}: {message}"
        for field, messages in exc.field_errors.items()
        for message in messages
    ]


def open311_view(*methods: str) -> Callable[[View], View]:
    """Method check, jurisdiction check and the mapping of our errors to GeoReport errors."""

    def decorate(view: View) -> View:
        @wraps(view)
        def wrapper(request: HttpRequest, fmt: str, *args: Any, **kwargs: Any) -> HttpResponse:
            if request.method not in methods:
                response = render.errors(fmt, 405, [f"{request.method} is not allowed here"])
                response["Allow"] = ", ".join(methods)
                return response
            source = request.POST if request.method == "POST" else request.GET
            jurisdiction = (source.get("jurisdiction_id") or "").strip()
            if jurisdiction and jurisdiction != settings.CIVICDESK_JURISDICTION_ID:
                return render.errors(
                    fmt,
                    404,
                    [
                        f"jurisdiction_id {jurisdiction!r} is not served "
                        f"here ({settings.CIVICDESK_JURISDICTION_ID})"
                    ],
                )
            try:
                rate_limit_hit("open311", client_ip(request), rate_setting("CIVICDESK_RATE_API"))
                return view(request, fmt, *args, **kwargs)
            except BadApiKey as exc:
                return render.errors(fmt, 403, [exc.message])
            except RateLimited as exc:
                response = render.errors(fmt, 429, [exc.message])
                response["Retry-After"] = str(exc.retry_after)
                return response
            except NotFound as exc:
                return render.errors(fmt, 404, [exc.message])
            except InvalidInput as exc:
                # GeoReport v2: an unknown service_code is an unknown resource.
                status = 404 if exc.code == "unknown_service" else 400
                return render.errors(fmt, status, _field_messages(exc))
            except CivicdeskError as exc:
                return render.errors(fmt, 400, [exc.message])

        return csrf_exempt(wrapper)

    return decorate


def _base_url(request: HttpRequest) -> str:
    return request.build_absolute_uri("/open311/v2/").rstrip("/")


@open311_view("GET", "HEAD")
def discovery(request: HttpRequest, fmt: str) -> HttpResponse:
    changed = iso(catalogue_changed_at(), timezone.get_default_timezone())
    return render.document(
        fmt,
        "discovery",
        {
            "changeset": changed,
            "contact": settings.CIVICDESK_OPEN311_CONTACT,
            "key_service": settings.CIVICDESK_OPEN311_KEY_SERVICE,
            "endpoints": [
                {
                    "specification": SPECIFICATION,
                    "url": _base_url(request),
                    "changeset": changed,
                    "type": "production",
                    "formats": ["text/xml", "application/json"],
                }
            ],
        },
    )


@open311_view("GET", "HEAD")
def services(request: HttpRequest, fmt: str) -> HttpResponse:
    return render.document(fmt, "services", services_list())


@open311_view("GET", "HEAD")
def service_detail(request: HttpRequest, fmt: str, service_code: str) -> HttpResponse:
    service = Service.objects.filter(service_code=service_code, active=True).first()
    if service is None:
        raise NotFound(f"no service with service_code {service_code!r}")
    return render.document(fmt, "service_definition", service_definition(service))


@open311_view("GET", "HEAD", "POST")
def requests(request: HttpRequest, fmt: str) -> HttpResponse:
    if request.method == "POST":
        return _post_request(request, fmt)
    query = request_query_parse(request.GET)
    records, total = requests_page(query)
    response = render.document(fmt, "service_requests", records)
    response["X-Total-Count"] = str(total)
    response["X-Page"] = str(query.page)
    response["X-Page-Size"] = str(query.page_size)
    links = []
    base = request.build_absolute_uri(request.path)
    params = {k: v for k, v in request.GET.items() if k != "page"}
    if query.page * query.page_size < total:
        links.append(f'<{base}?{urlencode({**params, "page": query.page + 1})}>; rel="next"')
    if query.page > 1:
        links.append(f'<{base}?{urlencode({**params, "page": query.page - 1})}>; rel="prev"')
    if links:
        response["Link"] = ", ".join(links)
    return response


@open311_view("GET", "HEAD")
def request_detail(request: HttpRequest, fmt: str, request_id: str) -> HttpResponse:
    # The path names one request: a list ("a,b", ",,,") or an id that cannot exist is an
    # unknown resource, not a search.
    if not REQUEST_ID_RE.fullmatch(request_id):
        raise NotFound(f"no service request {request_id!r}")
    query = request_query_parse(
        {"service_request_id": request_id, "extensions": request.GET.get("extensions", "")}
    )
    records, _ = requests_page(query)
    if not records:
        raise NotFound(f"no service request {request_id!r}")
    return render.document(fmt, "service_requests", records)


@open311_view("GET", "HEAD")
def token_detail(request: HttpRequest, fmt: str, token: str) -> HttpResponse:
    submission = (
        ApiSubmission.objects.filter(token=token).select_related("request").first()
        if len(token) <= 40
        else None
    )
    if submission is None:
        raise NotFound(f"no token {token!r}")
    return render.document(
        fmt,
        "service_requests",
        [{"service_request_id": submission.request.public_id, "token": submission.token}],
    )


def _attributes(post: Any) -> dict[str, Any]:
    """``attribute[CODE]=v`` and ``attribute[CODE][]=v`` (a list) from the posted form."""
    answers: dict[str, Any] = {}
    for name in post:
        if not name.startswith("attribute[") or "]" not in name:
            continue
        code = name[len("attribute[") : name.index("]")]
        rest = name[name.index("]") + 1 :]
        if rest == "[]":
            answers[code] = list(post.getlist(name))
        elif rest == "":
            values = post.getlist(name)
            answers[code] = values[0] if len(values) == 1 else values
        else:
            raise InvalidInput({name: ["use attribute[CODE] or attribute[CODE][]"]})
    return answers


def _language(raw: str) -> str:
    """A client's locale (``es-MX``) as one of the site's languages, else the default."""
    code = raw.strip().lower().replace("_", "-").split("-")[0]
    return code if code in dict(settings.LANGUAGES) else settings.LANGUAGE_CODE


def _post_request(request: HttpRequest, fmt: str) -> HttpResponse:
    post = request.POST
    if len(post) > MAX_BODY_FIELDS:
        raise InvalidInput(f"too many fields (at most {MAX_BODY_FIELDS})")
    # PostgreSQL text cannot hold NUL: a field carrying one is refused, not a 500.
    for name, values in post.lists():
        if "\x00" in name or any("\x00" in value for value in values):
            if name == "api_key":
                raise BadApiKey("the api_key is not valid")
            raise InvalidInput({name.replace("\x00", ""): ["must not contain NUL characters"]})
    key: ApiKey = apikey_check((post.get("api_key") or "").strip())
    rate_limit_check(key)
    first, last = (post.get("first_name") or "").strip(), (post.get("last_name") or "").strip()
    device_id = (post.get("device_id") or "").strip()[:200]
    account_id = (post.get("account_id") or "").strip()[:200]
    media_urls = [u.strip() for u in post.getlist("media_url") if u.strip()]
    uploads = request.FILES.getlist("media") + request.FILES.getlist("media[]")
    if len(uploads) > MAX_UPLOADS:
        raise InvalidInput({"media": [f"at most {MAX_UPLOADS} files"]})
    with transaction.atomic():
        created = request_create(
            service_code=(post.get("service_code") or "").strip(),
            description=post.get("description") or "",
            attributes=_attributes(post),
            lat=post.get("lat"),
            long=post.get("long"),
            address=post.get("address_string") or "",
            address_id=post.get("address_id") or "",
            zipcode=post.get("zipcode") or "",
            channel=Channel.MOBILE_APP if device_id else Channel.API,
            contact=ContactInput(
                name=f"{first} {last}".strip(),
                email=post.get("email") or "",
                phone=post.get("phone") or "",
                preferred_language=_language(post.get("locale") or post.get("lang") or ""),
            ),
            media_urls=media_urls,
            actor_label=f"api:{key.prefix}",
        )
        for upload in uploads[:MAX_UPLOADS]:
            request_media_attach(
                request=created, data=upload.read(), actor_label=f"api:{key.prefix}"
            )
        submission = ApiSubmission.objects.create(
            token=secrets.token_hex(16),
            api_key=key,
            request=created,
            device_id=device_id,
            account_id=account_id,
        )
        ApiKey.objects.filter(pk=key.pk).update(last_used_at=timezone.now())
    # Every service is realtime, so the body carries the id (the specification allows an id
    # or a token, not both); the token is offered in a header for clients that poll tokens.
    response = render.document(
        fmt,
        "service_requests",
        [
            {
                "service_request_id": created.public_id,
                "service_notice": created.service.notice or None,
                "account_id": account_id or None,
            }
        ],
        status=201,
    )
    response["X-Open311-Token"] = submission.token
    return response


def unknown(request: HttpRequest, path: str = "") -> HttpResponse:
    fmt = "xml" if path.endswith(".xml") else "json"
    return render.errors(fmt, 404, [f"no such resource: /open311/v2/{path}"])
