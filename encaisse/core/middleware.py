from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from .origin import origin

_PREFIXES = (("/backoffice/", "backoffice"), ("/portal/", "portal"), ("/api/", "api"), ("/hooks/", "webhook"))


class OriginMiddleware:
    """Tag every change made during a request with the interface it came through."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        name = next((label for prefix, label in _PREFIXES if request.path.startswith(prefix)), "web")
        with origin(name):
            return self.get_response(request)
