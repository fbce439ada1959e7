"""Single sign-on through the city's OpenID Connect provider, against a small provider that
runs on 127.0.0.1 for the test (discovery, token and userinfo endpoints): an existing staff
member is signed in (no second step asked: the provider enforces its own), nobody else is,
and no account is ever created."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from allauth.mfa.models import Authenticator
from django.test import Client

from civicdesk.accounts.mfa import DEMO_TOTP_SECRET, totp_code
from civicdesk.accounts.models import User
from civicdesk.audit.models import AuditEntry
from tests.conftest import staff

pytestmark = pytest.mark.usefixtures("city")


class Provider:
    """What the provider will say about the person who signs in."""

    def __init__(self) -> None:
        self.userinfo: dict[str, Any] = {}
        self.base = ""


def _handler(provider: Provider) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:  # keep the test output quiet
            pass

        def _json(self, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            if self.path.endswith("/.well-known/openid-configuration"):
                self._json(
                    {
                        "issuer": provider.base,
                        "authorization_endpoint": provider.base + "/authorize",
                        "token_endpoint": provider.base + "/token",
                        "userinfo_endpoint": provider.base + "/userinfo",
                        "token_endpoint_auth_methods_supported": ["client_secret_post"],
                    }
                )
            elif self.path.startswith("/userinfo"):
                self._json(provider.userinfo)
            else:
                self.send_error(404)

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", 0))
            form = parse_qs(self.rfile.read(length).decode())
            if self.path == "/token" and form.get("code") == ["good-code"]:
                self._json({"access_token": "token-1", "token_type": "Bearer"})
            else:
                self.send_error(400)

    return Handler


@pytest.fixture
def provider(settings: Any) -> Iterator[Provider]:
    state = Provider()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    state.base = f"http://127.0.0.1:{server.server_port}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    settings.SOCIALACCOUNT_PROVIDERS = {
        "openid_connect": {
            "APPS": [
                {
                    "provider_id": "city",
                    "name": "City sign-in",
                    "client_id": "civicdesk",
                    "secret": "s3cret",
                    "settings": {"server_url": state.base, "fetch_userinfo": True},
                }
            ],
            "OAUTH_PKCE_ENABLED": True,
        }
    }
    yield state
    server.shutdown()


def _sign_in_through(provider: Provider, client: Client, who: dict[str, Any]) -> Any:
    provider.userinfo = who
    page = client.get("/accounts/login/")
    assert "City sign-in" in page.content.decode()
    start = client.post("/accounts/oidc/city/login/")
    assert start.status_code == 302
    target = urlsplit(start["Location"])
    assert f"{target.scheme}://{target.netloc}{target.path}" == provider.base + "/authorize"
    query = parse_qs(target.query)
    assert query["client_id"] == ["civicdesk"] and "code_challenge" in query
    return client.get(
        "/accounts/oidc/city/login/callback/",
        {"code": "good-code", "state": query["state"][0]},
    )


def test_a_staff_member_signs_in_through_the_city_provider(provider: Provider) -> None:
    crew = staff("pw.crew")
    Authenticator.objects.filter(user=crew).delete()  # the provider is their only sign-in
    client = Client()
    done = _sign_in_through(
        provider, client, {"sub": "emp-1042", "email": crew.email, "email_verified": True}
    )
    assert done.status_code == 302 and done["Location"] == "/staff/"
    assert client.get("/staff/").status_code == 200  # the provider enforces its own factors
    entry = AuditEntry.objects.filter(action="auth.sign_in").last()
    assert entry is not None and entry.actor == "pw.crew"


def test_a_second_step_set_up_here_is_asked_for_after_the_provider(provider: Provider) -> None:
    crew = staff("pw.crew")  # the demo staff hold the demo authenticator
    client = Client()
    done = _sign_in_through(
        provider, client, {"sub": "emp-1042", "email": crew.email, "email_verified": True}
    )
    assert done["Location"] == "/accounts/2fa/authenticate/"
    assert client.get("/staff/").status_code == 302
    finished = client.post("/accounts/2fa/authenticate/", {"code": totp_code(DEMO_TOTP_SECRET)})
    assert finished["Location"] == "/staff/"
    assert client.get("/staff/").status_code == 200


@pytest.mark.parametrize(
    "who",
    [
        {"sub": "x-1", "email": "stranger@example.net", "email_verified": True},
        {"sub": "x-2", "email": "pw.crew@prairiefalls.example", "email_verified": False},
    ],
    ids=["unknown person", "address the provider has not verified"],
)
def test_nobody_else_gets_in_and_no_account_is_made(
    provider: Provider, who: dict[str, Any]
) -> None:
    users = User.objects.count()
    client = Client()
    done = _sign_in_through(provider, client, who)
    assert client.get("/staff/").status_code == 302  # still signed out
    assert User.objects.count() == users
    body = client.get(done["Location"]).content.decode() if done.status_code == 302 else ""
    assert done.status_code in (200, 302)
    assert "Traceback" not in body
