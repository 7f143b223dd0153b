from django.apps import AppConfig


class ApiConfig(AppConfig):
    name = "encaisse.api"
    label = "api"
