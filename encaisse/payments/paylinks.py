"""Pay links: a signed address that lets a customer pay some items without an account.

The link carries the organisation, the receivable lines and the amount due
when it was made, signed with TimestampSigner (salt "encaisse.paylink") and an
expiry date. It grants no more than a look at those items: the amount to pay
is recomputed from the ledger each time the page opens, never read from the
link, and the lines must still belong to one customer of that organisation.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from dataclasses import dataclass

from django.conf import settings
from django.core import signing
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from encaisse.core.errors import DomainError
from encaisse.core.money import Money

SALT = "encaisse.paylink"


class BadPayLink(DomainError):
    code = "bad_pay_link"
    message = _("This payment link is not valid.")


class ExpiredPayLink(DomainError):
    code = "expired_pay_link"
    message = _("This payment link has expired.")


@dataclass(frozen=True, slots=True)
class PayLink:
    organisation_id: int
    line_ids: tuple[int, ...]
    amount: Money  # due when the link was made; shown for reference only
    expires_at: int  # unix time


def pay_link(*, organisation_id: int, line_ids: Sequence[int], amount: Money, expires_in_days: int = 30) -> str:
    """The path of the pay page for these items, e.g. /pay/<token>/."""
    payload = {"o": organisation_id, "l": sorted({int(pk) for pk in line_ids}), "a": amount.minor,
               "c": amount.currency, "x": int(time.time()) + expires_in_days * 86400}
    token = signing.TimestampSigner(salt=SALT).sign_object(payload, compress=True)
    return f"/pay/{token}/"


def public_url(path: str, request: HttpRequest | None = None) -> str:
    """The full address of `path` for people outside: payers opening an email, providers' webhooks.

    The one rule for every such address: ENCAISSE_BASE_URL when the
    installation sets it (behind a proxy the request may not know its public
    name); otherwise the address the request reached; without a request (a
    command), the setting's default.
    """
    if request is None or os.environ.get("ENCAISSE_BASE_URL"):
        return settings.ENCAISSE_BASE_URL.rstrip("/") + path
    return request.build_absolute_uri(path)


def pay_url(*, organisation_id: int, line_id: int | None, due: Money,
            request: HttpRequest | None = None) -> str | None:
    """The full pay link of one receivable line with `due` left on it (public_url's rule); None when nothing is due."""
    if line_id is None or due.minor <= 0:
        return None
    return public_url(pay_link(organisation_id=organisation_id, line_ids=[line_id], amount=due), request)


def read_pay_link(token: str) -> PayLink:
    """Check the signature and the expiry; BadPayLink for a tampered token, ExpiredPayLink for an old one."""
    try:
        data = signing.TimestampSigner(salt=SALT).unsign_object(token)
        link = PayLink(organisation_id=int(data["o"]), line_ids=tuple(int(pk) for pk in data["l"]),
                       amount=Money(int(data["a"]), data["c"]), expires_at=int(data["x"]))
    except (signing.BadSignature, KeyError, TypeError, ValueError) as error:
        raise BadPayLink() from error
    if link.expires_at < time.time():
        raise ExpiredPayLink()
    return link
