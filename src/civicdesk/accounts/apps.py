from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "civicdesk.accounts"
    label = "accounts"
    verbose_name = "Users and roles"

    def ready(self) -> None:
        from . import receivers  # noqa: F401  (session clock, MFA and lockout audit)
