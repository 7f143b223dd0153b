"""Organisation API keys on the API: `Authorization: Bearer <secret>` or `X-Api-Key: <secret>`.

Both read the same keys (parties.apikeys): a program sends whichever header
its HTTP library makes easiest. The authenticated ApiKey lands in
`request.auth`; its organisation is the only one the request can reach.
"""

from __future__ import annotations

from django.http import HttpRequest
from ninja.security import APIKeyHeader, HttpBearer

from encaisse.parties.apikeys import authenticate_api_key
from encaisse.parties.models import ApiKey, Organisation


class ApiKeyBearer(HttpBearer):
    def authenticate(self, request: HttpRequest, token: str) -> ApiKey | None:
        return authenticate_api_key(token.strip()) if token else None


class ApiKeyHeader(APIKeyHeader):
    param_name = "X-Api-Key"

    def authenticate(self, request: HttpRequest, key: str | None) -> ApiKey | None:
        return authenticate_api_key(key.strip()) if key else None


API_KEY_AUTH = [ApiKeyBearer(), ApiKeyHeader()]


def organisation_of(request: HttpRequest) -> Organisation:
    """The organisation of the key that authenticated the request."""
    return request.auth.organisation
