from django.urls import path

from . import views

app_name = "sandbox"
urlpatterns = [
    path("pay/<str:reference>/", views.page, name="page"),
    path("pay/<str:reference>/confirm/", views.confirm, name="confirm"),
]
