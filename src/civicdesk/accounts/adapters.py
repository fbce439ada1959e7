"""How allauth fits civicdesk: no open sign-up (staff accounts are made by an administrator;
resident accounts are optional and not offered yet), and single sign-on only for people who
already have a staff account with the same verified email address."""

from __future__ import annotations

from typing import Any

from allauth.account.adapter import DefaultAccountAdapter
from allauth.socialaccount.adapter import DefaultSocialAccountAdapter
from django.http import HttpRequest
from django.urls import reverse


class AccountAdapter(DefaultAccountAdapter):
    def is_open_for_signup(self, request: HttpRequest) -> bool:
        return False

    def get_login_redirect_url(self, request: HttpRequest) -> str:
        user = request.user
        if getattr(user, "is_city_staff", False):
            return reverse("console:queue")
        return reverse("portal:home")


class SocialAccountAdapter(DefaultSocialAccountAdapter):
    def is_open_for_signup(self, request: HttpRequest, sociallogin: Any) -> bool:
        # The city's identity provider signs in existing staff; it never creates accounts.
        return False
