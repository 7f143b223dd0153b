"""Payments received: looked at here, recorded through the customer's "Record a payment" page."""

from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from encaisse.payments.models import Payment

from ..site import ReadOnlyAdmin
from ..templatetags.backoffice_tags import format_money


@admin.register(Payment)
class PaymentAdmin(ReadOnlyAdmin):
    list_display = ("received_on", "customer", "method", "amount_display", "reference", "cheque_number",
                    "created_by")
    list_filter = ("method", "received_on")
    search_fields = ("customer__name", "customer__ref", "reference", "cheque_number")
    list_select_related = ("customer", "created_by")
    fields = ("customer", "method", "amount_display", "received_on", "reference", "cheque_bank", "cheque_number",
              "entry", "created_by", "created_at")
    readonly_fields = fields

    @admin.display(description=_("amount"), ordering="amount_minor")
    def amount_display(self, obj: Payment) -> str:
        return format_money(obj.amount)
