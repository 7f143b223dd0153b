from django.apps import AppConfig
from django.contrib.admin import apps as admin_apps
from django.utils.translation import gettext_lazy as _


class BackofficeAdminConfig(admin_apps.AdminConfig):
    """Django's admin app, serving our BackofficeSite instead of the default site."""

    default_site = "encaisse.backoffice.site.BackofficeSite"
    default = False


class BackofficeConfig(AppConfig):
    name = "encaisse.backoffice"
    label = "backoffice"
    verbose_name = _("Back office")
    default = True
