"""Issue 12, finding 10: tokens for a password, revoked and rotated; throttled sign-ins."""

import pytest
from django.test import Client
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

pytestmark = pytest.mark.django_db
URL = "/api/v1/auth/token/"


def set_rates(monkeypatch, **rates):
    """Throttle rates as settings would give them (DRF reads them once, into the class)."""
    from rest_framework.throttling import SimpleRateThrottle

    monkeypatch.setattr(SimpleRateThrottle, "THROTTLE_RATES", {**SimpleRateThrottle.THROTTLE_RATES, **rates})


@pytest.fixture
def person(django_user_model):
    return django_user_model.objects.create_user("ann", password="correct horse battery")


def test_a_password_gets_a_token_that_works_and_can_be_revoked_and_rotated(person):
    client = APIClient()
    first = client.post(URL, {"username": "ann", "password": "correct horse battery"}, format="json")
    assert first.status_code == 201 and first.json()["token"] == Token.objects.get(user=person).key
    again = client.post(URL, {"username": "ann", "password": "correct horse battery"}, format="json")
    assert again.status_code == 200 and again.json()["token"] == first.json()["token"]
    client.credentials(HTTP_AUTHORIZATION=f"Token {first.json()['token']}")
    assert client.get("/api/v1/projects/").status_code == 200
    rotated = client.post(URL + "rotate/")
    assert rotated.status_code == 201 and rotated.json()["token"] != first.json()["token"]
    assert client.get("/api/v1/projects/").status_code == 401  # the old token stopped working
    client.credentials(HTTP_AUTHORIZATION=f"Token {rotated.json()['token']}")
    assert client.delete(URL).status_code == 204
    assert not Token.objects.filter(user=person).exists()
    assert client.get("/api/v1/projects/").status_code == 401


def test_a_wrong_password_is_a_401_and_missing_fields_a_400(person):
    client = APIClient()
    wrong = client.post(URL, {"username": "ann", "password": "nope"}, format="json")
    assert wrong.status_code == 401 and wrong["WWW-Authenticate"] == "Token"
    assert "credentials" in wrong.json()["detail"] and not Token.objects.exists()
    missing = client.post(URL, {"username": "ann"}, format="json")
    assert missing.status_code == 400 and "password" in missing.json()["errors"]
    assert APIClient().delete(URL).status_code == 401


def test_repeated_failures_lock_the_account_out_with_429_and_retry_after(person, settings):
    settings.AXES_FAILURE_LIMIT = 3
    client = APIClient()
    codes = [client.post(URL, {"username": "ann", "password": f"guess{i}"}, format="json").status_code
             for i in range(3)]
    assert codes == [401, 401, 429]
    locked = client.post(URL, {"username": "ann", "password": "correct horse battery"}, format="json")
    assert locked.status_code == 429 and int(locked["Retry-After"]) == 900
    assert locked.json()["detail"] and locked.json()["errors"] == {}
    assert not Token.objects.exists()
    # Another account from the same address is not locked by ann's failures.
    from django.contrib.auth import get_user_model

    get_user_model().objects.create_user("bob", password="correct horse battery")
    assert client.post(URL, {"username": "bob", "password": "correct horse battery"},
                       format="json").status_code == 201


def test_the_admin_sign_in_is_locked_out_too(person, settings):
    settings.AXES_FAILURE_LIMIT = 2
    person.is_staff = True
    person.save()
    browser = Client()
    for _ in range(2):
        browser.post("/admin/login/?next=/admin/", {"username": "ann", "password": "wrong"})
    response = browser.post("/admin/login/?next=/admin/", {"username": "ann", "password": "correct horse battery"})
    assert response.status_code == 429 and response["Retry-After"]
    assert "_auth_user_id" not in browser.session


def test_the_token_endpoint_is_throttled_per_address(person, monkeypatch):
    set_rates(monkeypatch, auth_token="2/min")
    client = APIClient()
    body = {"username": "ann", "password": "correct horse battery"}
    assert [client.post(URL, body, format="json").status_code for _ in range(3)] == [201, 200, 429]
    assert int(client.post(URL, body, format="json")["Retry-After"]) > 0


def test_guessing_tokens_is_throttled(settings, monkeypatch):
    set_rates(monkeypatch, bad_token="3/min")
    client = APIClient()
    codes = []
    for i in range(5):
        client.credentials(HTTP_AUTHORIZATION=f"Token guess{i}")
        codes.append(client.get("/api/v1/projects/").status_code)
    assert codes == [401, 401, 401, 429, 429]


def test_writes_are_throttled_per_user_with_the_rate_from_settings(person, monkeypatch):
    set_rates(monkeypatch, write="2/min")
    client = APIClient()
    client.force_authenticate(person)
    body = {"username": "x"}
    codes = [client.post("/api/v1/projects/", body, format="json").status_code for _ in range(3)]
    assert codes[:2] == [400, 400] and codes[2] == 429
    assert client.get("/api/v1/projects/").status_code == 200  # reads are not counted


def test_with_redis_the_counts_live_in_redis_shared_by_every_web_worker():
    """Throttle and lockout counts go to CACHES["default"], which is Redis when REDIS_URL is set."""
    import os
    import subprocess
    import sys

    from tests.conftest import ROOT

    env = {**os.environ, "REDIS_URL": "redis://127.0.0.1:6379/3", "DJANGO_SETTINGS_MODULE": "jointly.settings"}
    env.pop("CACHE_URL", None)
    out = subprocess.run(
        [sys.executable, "-c", "from django.conf import settings as s; c = s.CACHES['default']; "
         "print(c['BACKEND'], c['LOCATION'], s.AXES_HANDLER)"],
        cwd=ROOT, env=env, capture_output=True, text=True, check=True,
    ).stdout.split()
    assert out == ["django.core.cache.backends.redis.RedisCache", "redis://127.0.0.1:6379/3",
                   "axes.handlers.cache.AxesCacheHandler"]


def test_creating_accounts_is_throttled(monkeypatch):
    from tests.annotation.factories import client_for, make_world

    set_rates(monkeypatch, account_creation="2/hour")
    world = make_world(images=0)
    client = client_for(world["vendor_manager_a"])
    url = f"/api/v1/vendors/{world.vendor_a.pk}/members/"
    codes = [client.post(url, {"handle": name}, format="json").status_code
             for name in ("new-one", world["annotator_b"].username, "new-two")]
    assert codes == [201, 201, 429]
    assert client.get(url).status_code == 200  # reading the members is not counted
