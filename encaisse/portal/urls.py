"""The customer portal's addresses, under /portal/."""

from django.urls import path

from . import methods, views

app_name = "portal"

urlpatterns = [
    path("", views.home, name="home"),
    path("methods/", methods.methods, name="methods"),
    path("methods/<int:pk>/default/", methods.make_default, name="method_default"),
    path("methods/<int:pk>/remove/", methods.remove, name="method_remove"),
    path("methods/mandate/", methods.sign, name="mandate_sign"),
    path("methods/mandates/<int:pk>/", methods.signed, name="mandate_signed"),
    path("methods/mandates/<int:pk>/revoke/", methods.revoke, name="mandate_revoke"),
    path("sign-in/", views.sign_in_page, name="sign_in"),
]
