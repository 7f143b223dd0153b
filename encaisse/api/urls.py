from django.urls import path
from ninja import NinjaAPI

api = NinjaAPI(title="Encaisse API", version="1", urls_namespace="api")


@api.get("/health", auth=None, summary="Liveness check")
def health(request) -> dict[str, str]:
    """Answer ok when the application is up: for load balancers and monitoring."""
    return {"status": "ok"}


urlpatterns = [path("", api.urls)]
