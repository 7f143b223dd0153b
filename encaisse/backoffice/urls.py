"""Staff views beside the admin's own pages, mounted under /backoffice/ before the admin's URLs.

Each view goes through admin.site.admin_view: staff of an organisation only
(others are sent to the login page), CSRF-checked, never cached.
"""

from django.contrib import admin
from django.urls import path, re_path

from . import collection_views, method_views, payment_views, portal_views, quote_views, refund_views, usage_views, views

app_name = "staff"

urlpatterns = [
    path("customers/<int:pk>/statement/", admin.site.admin_view(views.customer_statement),
         name="customer_statement"),
    path("balances/", admin.site.admin_view(views.balances), name="balances"),
    path("customers/<int:pk>/payment/", admin.site.admin_view(payment_views.record_payment), name="record_payment"),
    path("customers/<int:pk>/methods/", admin.site.admin_view(method_views.customer_methods),
         name="customer_methods"),
    path("customers/<int:pk>/portal-link/", admin.site.admin_view(portal_views.customer_portal_link),
         name="portal_link"),
    path("customers/<int:pk>/advance-refund/", admin.site.admin_view(refund_views.advance_refund),
         name="advance_refund"),
    path("payments/attempts/<uuid:attempt_id>/refund/", admin.site.admin_view(refund_views.attempt_refund),
         name="attempt_refund"),
    path("invoices/<int:pk>/credit-note/", admin.site.admin_view(views.invoice_credit_note),
         name="invoice_credit_note"),
    path("invoices/<int:pk>/send/", admin.site.admin_view(views.invoice_send), name="invoice_send"),
    re_path(r"^invoices/(?P<pk>[0-9]+)/(?P<action>validate|reopen|cancel|post|credit)/$",
            admin.site.admin_view(views.invoice_action), name="invoice_action"),
    re_path(r"^quotes/(?P<pk>[0-9]+)/(?P<action>send|accept|cancel|invoice)/$",
            admin.site.admin_view(quote_views.quote_action), name="quote_action"),
    path("quotes/<int:pk>/deposits/", admin.site.admin_view(quote_views.quote_deposit_add), name="quote_deposit_add"),
    path("deposits/<int:pk>/issue/", admin.site.admin_view(quote_views.deposit_issue), name="deposit_issue"),
    path("usage/import/", admin.site.admin_view(usage_views.usage_import), name="usage_import"),
    re_path(r"^usage/import/(?P<token>[0-9a-f]{32})/confirm/$",
            admin.site.admin_view(usage_views.usage_import_confirm), name="usage_import_confirm"),
    re_path(r"^usage/import/(?P<token>[0-9a-f]{32})/$",
            admin.site.admin_view(usage_views.usage_import_status), name="usage_import_status"),
    path("usage/imports/<int:pk>/file/", admin.site.admin_view(usage_views.usage_import_file),
         name="usage_import_file"),
    path("usage/drafts/", admin.site.admin_view(usage_views.usage_drafts), name="usage_drafts"),
    path("collection/run/", admin.site.admin_view(collection_views.collection_run), name="collection_run"),
    path("sepa/export/", admin.site.admin_view(collection_views.debits_export), name="debits_export"),
    path("sepa/files/<uuid:pk>/download/", admin.site.admin_view(collection_views.debit_file_download),
         name="debit_file_download"),
    path("sepa/bank-files/import/", admin.site.admin_view(collection_views.bank_import), name="bank_import"),
    path("sepa/mandates/<int:pk>/account/", admin.site.admin_view(collection_views.mandate_change_account),
         name="mandate_change_account"),
    path("usage/drafts/action/", admin.site.admin_view(usage_views.usage_drafts_action),
         name="usage_drafts_action"),
]
