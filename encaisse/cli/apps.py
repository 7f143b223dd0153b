from django.apps import AppConfig


class CliConfig(AppConfig):
    name = "encaisse.cli"
    label = "cli"
