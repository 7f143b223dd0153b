from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class PaymentsConfig(AppConfig):
    name = "encaisse.payments"
    label = "payments"
    verbose_name = _("Payments")

    def ready(self) -> None:
        # The sandbox provider's own tables (its side, not ours) are declared beside its adapter.
        from .providers.sandbox import models  # noqa: F401
