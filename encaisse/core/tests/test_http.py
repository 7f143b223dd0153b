"""client_ip: X-Forwarded-For believed only from the proxies ENCAISSE_TRUSTED_PROXIES names."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import RequestFactory, override_settings

from encaisse.core.http import client_ip, trusted_proxies

ROOT = Path(__file__).resolve().parents[3]


def request_from(remote: str, forwarded: str | None = None):
    extra = {"REMOTE_ADDR": remote}
    if forwarded is not None:
        extra["HTTP_X_FORWARDED_FOR"] = forwarded
    return RequestFactory().get("/", **extra)


def test_without_trusted_proxies_a_spoofed_header_is_ignored():
    with override_settings(ENCAISSE_TRUSTED_PROXIES=()):
        assert client_ip(request_from("203.0.113.7", "1.2.3.4")) == "203.0.113.7"


def test_a_header_from_an_untrusted_address_is_ignored_even_when_some_proxy_is_trusted():
    with override_settings(ENCAISSE_TRUSTED_PROXIES=trusted_proxies("10.0.0.1")):
        assert client_ip(request_from("203.0.113.7", "1.2.3.4, 10.0.0.1")) == "203.0.113.7"


def test_through_two_trusted_proxies_the_client_is_the_rightmost_untrusted_address():
    # The client wrote "6.6.6.6" itself; the outer proxy (10.0.0.2) appended the real client, the inner one
    # (10.0.0.1, the connection's address) appended the outer proxy.
    with override_settings(ENCAISSE_TRUSTED_PROXIES=trusted_proxies("10.0.0.1, 10.0.0.2/32")):
        assert client_ip(request_from("10.0.0.1", "6.6.6.6, 198.51.100.4, 10.0.0.2")) == "198.51.100.4"


def test_a_network_trusts_every_proxy_in_it_and_ipv6_works():
    with override_settings(ENCAISSE_TRUSTED_PROXIES=trusted_proxies("10.0.0.0/8, fd00::/8")):
        assert client_ip(request_from("fd00::1", "2001:db8::5, 10.4.4.4")) == "2001:db8::5"


def test_a_garbage_header_falls_back_to_the_last_address_known_to_be_true():
    with override_settings(ENCAISSE_TRUSTED_PROXIES=trusted_proxies("10.0.0.1, 10.0.0.2")):
        assert client_ip(request_from("10.0.0.1", "not an address")) == "10.0.0.1"
        assert client_ip(request_from("10.0.0.1", "198.51.100.4, <script>, 10.0.0.2")) == "10.0.0.2"
        assert client_ip(request_from("10.0.0.1", " , ,")) == "10.0.0.1"
        assert client_ip(request_from("10.0.0.1")) == "10.0.0.1"


def test_no_remote_address_is_unknown():
    assert client_ip(RequestFactory().get("/", REMOTE_ADDR="")) is None


@pytest.mark.parametrize("text", ["10.0.0.1, nope", "10.0.0.300", "10.0.0.0/33", "proxy.example.org"])
def test_an_invalid_entry_is_refused_with_its_name(text):
    with pytest.raises(ImproperlyConfigured, match=r"ENCAISSE_TRUSTED_PROXIES: '.*' is not an IP address"):
        trusted_proxies(text)


def test_empty_entries_trust_nobody():
    assert trusted_proxies("") == ()
    assert [str(n) for n in trusted_proxies(" 10.0.0.1 ,, 192.168.0.0/16 ")] == ["10.0.0.1/32", "192.168.0.0/16"]


def test_an_invalid_setting_stops_start_up_with_a_clear_message():
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "encaisse.config.settings", "ENCAISSE_TRUSTED_PROXIES": "10.0.0.1,x"}
    result = subprocess.run([sys.executable, "-c", "import django; django.setup()"], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    assert "ImproperlyConfigured: ENCAISSE_TRUSTED_PROXIES: 'x' is not an IP address" in result.stderr
