from django.urls import path

from . import pay

urlpatterns = [
    path("return/<uuid:attempt_id>/", pay.pay_return, name="pay-return"),
    path("<str:token>/", pay.pay_page, name="pay-page"),
]
