"""Staff views beside the admin's own pages, mounted under /backoffice/ before the admin's URLs.

Each view goes through admin.site.admin_view: staff of an organisation only
(others are sent to the login page), CSRF-checked, never cached.
"""

from django.contrib import admin
from django.urls import path, re_path

from . import views

app_name = "staff"

urlpatterns = [
    path("customers/<int:pk>/statement/", admin.site.admin_view(views.customer_statement),
         name="customer_statement"),
    path("balances/", admin.site.admin_view(views.balances), name="balances"),
    path("invoices/<int:pk>/credit-note/", admin.site.admin_view(views.invoice_credit_note),
         name="invoice_credit_note"),
    re_path(r"^invoices/(?P<pk>[0-9]+)/(?P<action>validate|reopen|cancel|post|credit)/$",
            admin.site.admin_view(views.invoice_action), name="invoice_action"),
]
