from django.apps import AppConfig


class ServiceRequestsConfig(AppConfig):
    name = "civicdesk.servicerequests"
    label = "servicerequests"
    verbose_name = "Service requests"
