"""Signing a test client in to the portal as a customer, the way the sign-in views do."""

import time

from django.test import Client

from encaisse.parties.models import Customer
from encaisse.portal.access import SESSION_CUSTOMER, SESSION_SEEN


def sign_in_as(client: Client, customer: Customer) -> Client:
    session = client.session
    session[SESSION_CUSTOMER] = customer.pk
    session[SESSION_SEEN] = int(time.time())
    session.save()
    return client
