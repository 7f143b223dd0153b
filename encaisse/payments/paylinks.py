"""Pay links: a signed address that lets a customer pay some items without an account.

The link carries the organisation, the receivable lines and the amount due
when it was made, signed with TimestampSigner (salt "encaisse.paylink") and an
expiry date. It grants no more than a look at those items: the amount to pay
is recomputed from the ledger each time the page opens, never read from the
link, and the lines must still belong to one customer of that organisation.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

from django.core import signing
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
