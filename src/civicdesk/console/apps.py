"""The staff console: queues, request detail and actions, phone intake, knowledge base."""

from django.apps import AppConfig


class ConsoleConfig(AppConfig):
    name = "civicdesk.console"
    label = "console"
    verbose_name = "Staff console: knowledge base"
