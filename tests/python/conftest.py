"""Runs the `heketi` client from PyPI, unchanged, against a Brickyard server.

The PyPI release (3.0.0) was written for Python 2: it hashes a `str` and
concatenates the `bytes` token PyJWT 1.x returns onto a `str`. The two shims
below give it Python 2's str/bytes behaviour; the client code itself is not
touched. The server URL comes from BRICKYARD_URL, the admin secret from
BRICKYARD_ADMIN_KEY.
"""

import hashlib
import os

import jwt
import pytest

_sha256 = hashlib.sha256
_encode = jwt.encode


def _py2_sha256(data=b"", *args, **kwargs):
    if isinstance(data, str):
        data = data.encode("utf-8")
    return _sha256(data, *args, **kwargs)


def _py2_jwt_encode(*args, **kwargs):
    token = _encode(*args, **kwargs)
    return token.decode("ascii") if isinstance(token, bytes) else token


hashlib.sha256 = _py2_sha256
jwt.encode = _py2_jwt_encode


@pytest.fixture
def client():
    from heketi import HeketiClient

    url = os.environ["BRICKYARD_URL"]
    key = os.environ.get("BRICKYARD_ADMIN_KEY", "My Secret")
    return HeketiClient(url, "admin", key)
