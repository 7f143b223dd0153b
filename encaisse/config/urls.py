from django.conf import settings
from django.conf.urls.static import static
from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

from encaisse.api import pay

urlpatterns = [
    path("", RedirectView.as_view(url="/backoffice/", permanent=False)),
    path("i18n/", include("django.conf.urls.i18n")),
    path("backoffice/", include("encaisse.backoffice.urls")),
    path("backoffice/", admin.site.urls),
    path("api/v1/", include("encaisse.api.urls")),
    path("portal/", include("encaisse.portal.urls")),
    path("pay/", include("encaisse.api.pay_urls")),
    path("hooks/<slug:code>/", pay.webhook, name="provider-webhook"),
    path("sandbox/", include("encaisse.payments.providers.sandbox.urls")),
]
if settings.DEBUG:
    urlpatterns += static(settings.MEDIA_URL, document_root=settings.MEDIA_ROOT)
