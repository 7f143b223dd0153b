from django.http import HttpRequest, HttpResponse
from django.urls import path
from django.utils.translation import gettext as _
from ninja import NinjaAPI
from ninja.errors import AuthenticationError

from .usage import router as usage_router

api = NinjaAPI(title="Encaisse API", version="1", urls_namespace="api")


@api.exception_handler(AuthenticationError)
def unauthorized(request: HttpRequest, exc: AuthenticationError) -> HttpResponse:
    """Same error shape as every other refusal: a code for programs, a message for people."""
    return api.create_response(request, {
        "code": "unauthorized",
        "message": _("An organisation API key is needed: send it as `Authorization: Bearer <key>` or `X-Api-Key`."),
    }, status=401)


@api.get("/health", auth=None, summary="Liveness check")
def health(request) -> dict[str, str]:
    """Answer ok when the application is up: for load balancers and monitoring."""
    return {"status": "ok"}


api.add_router("", usage_router)

urlpatterns = [path("", api.urls)]
