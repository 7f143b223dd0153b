"""The customer portal's addresses, under /portal/."""

from django.urls import path

from . import methods, pages, setup, views

app_name = "portal"

urlpatterns = [
    path("", pages.dashboard, name="home"),
    path("invoices/<int:pk>/", pages.invoice_page, name="invoice"),
    path("deposits/<int:pk>/", pages.deposit_page, name="deposit"),
    path("payments/<str:pk>/", pages.payment_page, name="payment"),
    path("account/", pages.account_page, name="account"),
    path("pay/", pages.pay, name="pay"),
    path("profile/", pages.profile_page, name="profile"),
    path("methods/", methods.methods, name="methods"),
    path("methods/<int:pk>/remove/", methods.remove, name="method_remove"),
    path("methods/collection/", methods.choose_collection, name="collect_by"),
    path("methods/add/", setup.add_card, name="method_add"),
    path("methods/add/<uuid:attempt_id>/", setup.card_added, name="method_added"),
    path("methods/mandate/", methods.sign, name="mandate_sign"),
    path("methods/mandates/<int:pk>/", methods.signed, name="mandate_signed"),
    path("methods/mandates/<int:pk>/revoke/", methods.revoke, name="mandate_revoke"),
    path("sign-in/", views.sign_in_page, name="sign_in"),
    path("sign-in/link/<str:token>/", views.sign_in_link, name="sign_in_link"),
    path("sign-in/choose/", views.choose, name="choose"),
    path("sign-out/", views.sign_out_view, name="sign_out"),
    path("password/", views.set_password_page, name="password"),
]
