"""JSON Web Tokens (RFC 7519) for ``crypto.jwt``: compact JWS with HS256/HS384/HS512 (HMAC)
and RS256 (RSASSA-PKCS1-v1_5 with SHA-256), checked the way Wippy's runtime checks them (Go's
``golang-jwt/jwt/v5``): the expected algorithm only, the signature, then ``exp`` (required
unless told otherwise) and ``nbf`` against the given time, no leeway. Failures raise
:class:`TokenError` with golang-jwt's wording (``token is malformed: ...``, ``token signature
is invalid: ...``, ``token has invalid claims: token is expired``), so messages read as
Wippy's do.

The primitives are the ``cryptography`` package's; the JWS framing is small enough to hold
here rather than take another dependency.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import math
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

#: The algorithms Wippy's page lists, by name: the HMAC hash, or None for RS256.
ALGORITHMS: dict[str, str | None] = {
    "HS256": "sha256",
    "HS384": "sha384",
    "HS512": "sha512",
    "RS256": None,
}


class TokenError(Exception):
    """A token that does not verify; ``str(exc)`` is golang-jwt's message."""


class PemKeyError(ValueError):
    """A PEM key that cannot be used (``str(exc)`` names why)."""


def b64url(data: bytes) -> bytes:
    """Base64url without padding (RFC 7515 section 2)."""
    return base64.urlsafe_b64encode(data).rstrip(b"=")


def _b64url_decode(text: bytes) -> bytes:
    # Go's RawURLEncoding: no padding, nothing outside the URL-safe alphabet.
    if b"=" in text or len(text) % 4 == 1:
        raise ValueError("illegal base64 data")
    try:
        return base64.b64decode(text + b"=" * (-len(text) % 4), altchars=b"-_", validate=True)
    except binascii.Error:
        raise ValueError("illegal base64 data") from None


def private_key(pem: bytes) -> rsa.RSAPrivateKey:
    """An RSA private key from PEM (PKCS #1 or PKCS #8), as Wippy reads one."""
    if b"-----BEGIN" not in pem:
        raise PemKeyError("failed to parse PEM block containing private key")
    try:
        key = serialization.load_pem_private_key(pem, password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise PemKeyError(f"failed to parse private key: {exc}") from None
    if not isinstance(key, rsa.RSAPrivateKey):
        raise PemKeyError("key is not an RSA private key")
    return key


def public_key(pem: bytes) -> rsa.RSAPublicKey:
    """An RSA public key from PEM: a certificate's, or a public key block."""
    if b"-----BEGIN" not in pem:
        raise PemKeyError("failed to parse PEM block containing public key")
    key: Any
    try:
        key = x509.load_pem_x509_certificate(pem).public_key()
    except ValueError:
        try:
            key = serialization.load_pem_public_key(pem)
        except (ValueError, UnsupportedAlgorithm) as exc:
            raise PemKeyError(f"failed to parse public key: {exc}") from None
    if not isinstance(key, rsa.RSAPublicKey):
        raise PemKeyError("key is not an RSA public key")
    return key


def _json(value: Any) -> bytes:
    # Keys sorted and compact, as Go's encoding/json writes a map.
    return json.dumps(value, separators=(",", ":"), sort_keys=True, ensure_ascii=False).encode()


def encode(claims_json: bytes, header: dict[str, Any], key: bytes, alg: str) -> bytes:
    """A signed compact token. ``claims_json`` is the claims' JSON text; ``header`` the extra
    header fields (``alg`` is always ``alg``).

    Raises:
        PemKeyError: an RS256 key that is not an RSA private key in PEM.
    """
    head = {"alg": alg, "typ": "JWT", **header}
    head["alg"] = alg
    signing_input = b64url(_json(head)) + b"." + b64url(claims_json)
    return signing_input + b"." + b64url(sign(signing_input, key, alg))


def sign(signing_input: bytes, key: bytes, alg: str) -> bytes:
    """The JWS signature of ``signing_input``."""
    digest = ALGORITHMS[alg]
    if digest is not None:
        return hmac.new(key, signing_input, digest).digest()
    return private_key(key).sign(signing_input, padding.PKCS1v15(), hashes.SHA256())


def verify(
    token: bytes, key: bytes, alg: str, now: float, require_exp: bool = True
) -> dict[str, Any]:
    """The claims of ``token`` (its payload JSON, decoded), once it verifies.

    Raises:
        TokenError: malformed, another algorithm, a bad key, a bad signature, an expired or
            not yet valid token, a missing ``exp`` when required.
    """
    parts = token.split(b".")
    if len(parts) != 3:
        raise TokenError("token is malformed: token contains an invalid number of segments")
    try:
        head_text = _b64url_decode(parts[0])
    except ValueError as exc:
        raise TokenError(f"token is malformed: could not base64 decode header: {exc}") from None
    try:
        head = json.loads(head_text)
    except (ValueError, UnicodeDecodeError) as exc:
        raise TokenError(f"token is malformed: could not JSON decode header: {exc}") from None
    try:
        claims_text = _b64url_decode(parts[1])
    except ValueError as exc:
        raise TokenError(f"token is malformed: could not base64 decode claim: {exc}") from None
    try:
        claims = json.loads(claims_text)
    except (ValueError, UnicodeDecodeError) as exc:
        raise TokenError(f"token is malformed: could not JSON decode claim: {exc}") from None
    if not isinstance(head, dict) or not isinstance(claims, dict):
        raise TokenError("token is malformed: header and claims must be JSON objects")
    token_alg = head.get("alg")
    if token_alg != alg:
        raise TokenError(f"token signature is invalid: signing method {token_alg} is invalid")
    try:
        signature = _b64url_decode(parts[2])
    except ValueError as exc:
        raise TokenError(f"token is malformed: could not base64 decode signature: {exc}") from None
    signing_input = parts[0] + b"." + parts[1]
    digest = ALGORITHMS[alg]
    if digest is not None:
        expected = hmac.new(key, signing_input, digest).digest()
        if not hmac.compare_digest(expected, signature):
            raise TokenError("token signature is invalid: signature is invalid")
    else:
        try:
            public = public_key(key)
        except PemKeyError as exc:
            raise TokenError(
                f"token is unverifiable: error while executing keyfunc: {exc}"
            ) from None
        try:
            public.verify(signature, signing_input, padding.PKCS1v15(), hashes.SHA256())
        except InvalidSignature:
            raise TokenError("token signature is invalid: crypto/rsa: verification error") from None
    _check_times(claims, now, require_exp)
    return claims


def _numeric_date(claims: dict[str, Any], name: str) -> float | None:
    value = claims.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise TokenError(f"token has invalid claims: invalid type for claim: {name} is invalid")
    return float(value)


def _check_times(claims: dict[str, Any], now: float, require_exp: bool) -> None:
    exp = _numeric_date(claims, "exp")
    if exp is None:
        if require_exp:
            raise TokenError(
                "token has invalid claims: token is missing required claim: exp claim is required"
            )
    elif not now < exp:
        raise TokenError("token has invalid claims: token is expired")
    nbf = _numeric_date(claims, "nbf")
    if nbf is not None and now < nbf:
        raise TokenError("token has invalid claims: token is not valid yet")
