"""The password Secret: generated once, owned, read back, and never shown."""

from __future__ import annotations

import base64

import pytest

from redis_operator.api import DEFAULT_AUTH_KEY as PASSWORD_KEY
from redis_operator.api import Redis
from redis_operator.auth import (
    Password,
    generated_secret,
    new_password,
    password_from_secret,
)
from redis_operator.children import auth_secret_name

REDIS = Redis.from_object(
    {"metadata": {"name": "my-op-redis", "namespace": "ns", "uid": "u-1", "generation": 1}}
)


def test_a_password_hides_itself() -> None:
    password = Password("s3cret-value")
    assert "s3cret" not in repr(password)
    assert "s3cret" not in str(password)
    assert "s3cret" not in f"{password} {[password]!r} { ({'p': password}) }"
    assert password.reveal() == "s3cret-value"


def test_passwords_compare_by_value() -> None:
    assert Password("a") == Password("a")
    assert Password("a") != Password("b")
    assert Password("a") != "a"
    assert hash(Password("a")) == hash(Password("b"))


def test_an_empty_password_is_refused() -> None:
    with pytest.raises(ValueError, match="empty"):
        Password("")


def test_generated_passwords_are_long_random_and_safe_in_redis_conf() -> None:
    values = {new_password().reveal() for _ in range(50)}
    assert len(values) == 50
    for value in values:
        assert len(value) >= 43
        assert value.replace("-", "").replace("_", "").isalnum()


def test_the_generated_secret_is_owned_and_holds_the_password() -> None:
    password = new_password()
    secret = generated_secret(REDIS, password)
    assert secret["metadata"]["name"] == auth_secret_name("my-op-redis") == "my-op-redis-auth"
    assert secret["metadata"]["namespace"] == "ns"
    (owner,) = secret["metadata"]["ownerReferences"]
    assert owner["uid"] == "u-1" and owner["controller"] is True
    assert secret["metadata"]["labels"]["app.kubernetes.io/instance"] == "my-op-redis"
    assert password_from_secret(secret, PASSWORD_KEY) == password


def _secret(value: bytes | str) -> dict[str, object]:
    data = value if isinstance(value, str) else base64.b64encode(value).decode()
    return {"metadata": {"name": "mine"}, "data": {"pw": data}}


@pytest.mark.parametrize(
    ("secret", "key", "message"),
    [
        (_secret(b"hunter2"), "password", "Secret mine has no key 'password'"),
        (_secret("!!not-base64"), "pw", "not base64"),
        (_secret(b"\xff\xfe"), "pw", "not base64 of UTF-8"),
        (_secret(b""), "pw", "non-empty line"),
        (_secret(b"two\nlines"), "pw", "one non-empty line"),
        (_secret(b'quo"te'), "pw", "without"),
        (_secret(b"back\\slash"), "pw", "without"),
    ],
)
def test_a_bad_user_secret_is_a_clear_error_without_the_value(
    secret: dict[str, object], key: str, message: str
) -> None:
    with pytest.raises(ValueError, match=message) as caught:
        password_from_secret(secret, key)
    for fragment in ("hunter2", "lines", "quo", "slash"):
        assert fragment not in str(caught.value)


def test_a_user_secret_is_read_by_key() -> None:
    assert password_from_secret(_secret(b"hunter2"), "pw") == Password("hunter2")
