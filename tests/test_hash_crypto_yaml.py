"""Wippy's ``hash``, ``crypto`` and ``yaml`` modules through a real entry, function by function
(``en/lua/security/hash.md``, ``en/lua/security/crypto.md``, ``en/lua/data/yaml.md``), against
published test vectors (RFC 1321/3174/6234 digests, RFC 2202/4231 HMAC, RFC 7914 PBKDF2, the
GCM specification's AES test case 3, RFC 8439 ChaCha20-Poly1305) and the ``cryptography``
package's primitives."""

from __future__ import annotations

import base64
import hashlib
import json
import textwrap
import time
from collections.abc import Iterator
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM, ChaCha20Poly1305

from runtime import manifest
from runtime.clock import ManualClock
from runtime.durable import events as ev
from runtime.durable.events import Event
from runtime.durable.replay import Replay
from runtime.engine import Engine
from runtime.errors import INTERNAL, INVALID
from tests.conftest import MakeApp

START = 1_700_000_000.0

HELPERS = """
local function E(err)
  if err == nil then return nil end
  return { kind = err:kind(), message = err:message(), retryable = err:retryable() }
end
local function hex(s)
  if s == nil then return nil end
  return (s:gsub(".", function(c) return string.format("%02x", c:byte()) end))
end
local function unhex(h)
  return (h:gsub("%x%x", function(x) return string.char(tonumber(x, 16)) end))
end
local function pcall_msg(f, ...)
  local ok, msg = pcall(f, ...)
  return ok, tostring(msg)
end
"""


class Unit:
    """One ``app:f`` function entry running in its own engine."""

    def __init__(self, make_app: MakeApp, body: str, modules: list[str]) -> None:
        index = (
            'version: "1.0"\nnamespace: app\nentries:\n'
            "  - name: f\n    kind: function.lua\n    source: file://f.lua\n"
            f"    method: handler\n    modules: [{', '.join(modules)}]\n"
        )
        app = make_app(index, {"f.lua": HELPERS + textwrap.dedent(body)})
        self.clock = ManualClock(START)
        self.engine = Engine(manifest.load_app(app), clock=self.clock)

    def call(self, *args: Any) -> Any:
        return self.engine.call("app:f", list(args))


@pytest.fixture
def unit(make_app: MakeApp) -> Iterator[Any]:
    made: list[Unit] = []

    def build(body: str, modules: list[str]) -> Unit:
        made.append(Unit(make_app, body, modules))
        return made[-1]

    yield build
    for u in made:
        u.engine.close()


def err(kind: str, message: str) -> dict[str, Any]:
    return {"kind": kind, "message": message, "retryable": False}


# -- hash ---------------------------------------------------------------------------------------
def test_hash_digests_match_the_standard_vectors_in_hex_and_raw(unit):
    u = unit(
        """
        local hash = require("hash")
        return { handler = function()
          local out = {}
          for _, name in ipairs({ "md5", "sha1", "sha256", "sha512" }) do
            local h, e = hash[name]("abc")
            out[name] = { hex = h, err = e == nil, raw = hex(hash[name]("abc", true)),
                          raw_len = #hash[name]("abc", true), empty = hash[name]("") }
          end
          return out
        end }
        """,
        ["hash"],
    )
    out = u.call()
    assert out["md5"]["hex"] == "900150983cd24fb0d6963f7d28e17f72"  # RFC 1321
    assert out["md5"]["empty"] == "d41d8cd98f00b204e9800998ecf8427e"
    assert out["sha1"]["hex"] == "a9993e364706816aba3e25717850c26c9cd0d89d"  # RFC 3174
    assert out["sha256"]["hex"] == (
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"  # FIPS 180-2
    )
    assert out["sha512"]["hex"] == (
        "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a"
        "2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f"
    )
    for name, size in (("md5", 16), ("sha1", 20), ("sha256", 32), ("sha512", 64)):
        assert out[name]["err"] is True
        assert out[name]["raw"] == out[name]["hex"] and out[name]["raw_len"] == size


def test_hash_hmacs_match_rfc_2202_and_4231(unit):
    u = unit(
        """
        local hash = require("hash")
        return { handler = function()
          local msg, key = "what do ya want for nothing?", "Jefe"
          return {
            md5 = hash.hmac_md5(msg, key), sha1 = hash.hmac_sha1(msg, key),
            sha256 = hash.hmac_sha256(msg, key), sha512 = hash.hmac_sha512(msg, key),
            raw = hex(hash.hmac_sha256(msg, key, true)),
          }
        end }
        """,
        ["hash"],
    )
    out = u.call()
    assert out["md5"] == "750c783e6ab0b503eaa86e310a5db738"
    assert out["sha1"] == "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79"
    assert out["sha256"] == "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
    assert out["sha512"] == (
        "164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea250554"
        "9758bf75c05a994a6d034f65f8f0e6fdcaeab1a34d4a6b4b636e070a38bce737"
    )
    assert out["raw"] == out["sha256"]


def test_hash_fnv_is_fnv1_as_go_computes_it(unit):
    u = unit(
        """
        local hash = require("hash")
        return { handler = function()
          return { a32 = hash.fnv32("a"), a64 = hash.fnv64("a"), e32 = hash.fnv32(""),
                   t32 = math.type(hash.fnv32("a")), t64 = math.type(hash.fnv64("a")) }
        end }
        """,
        ["hash"],
    )
    out = u.call()
    # FNV-1 (Go's fnv.New32/New64), not FNV-1a (0xe40c292c for "a").
    assert out["a32"] == 0x050C5D7E and out["e32"] == 0x811C9DC5
    assert out["a64"] == float(0xAF63BD4C8601B7BE)
    assert (out["t32"], out["t64"]) == ("integer", "float")


def test_hash_refuses_what_is_not_a_string(unit):
    u = unit(
        """
        local hash = require("hash")
        return { handler = function()
          local r = {}
          local v, e = hash.sha256(42); r.number = { v == nil, E(e) }
          v, e = hash.md5(nil); r.missing = { v == nil, E(e) }
          v, e = hash.fnv64({}); r.fnv = { v == nil, E(e) }
          v, e = hash.hmac_sha256("m", 1); r.secret = { v == nil, E(e) }
          v, e = hash.hmac_sha1(false, "k"); r.data = { v == nil, E(e) }
          return r
        end }
        """,
        ["hash"],
    )
    out = u.call()
    data = err(INVALID, "data must be a string")
    assert out == {
        "number": [True, data],
        "missing": [True, data],
        "fnv": [True, data],
        "secret": [True, err(INVALID, "secret must be a string")],
        "data": [True, data],
    }


# -- crypto: random, hmac, pbkdf2, compare --------------------------------------------------------
def test_crypto_random_values_and_their_limits(unit):
    u = unit(
        """
        local crypto = require("crypto")
        return { handler = function()
          local b = crypto.random.bytes(32)
          local s = crypto.random.string(64)
          local d = crypto.random.string(200, "01")
          local id = crypto.random.uuid()
          local r = { b = #b, b2 = crypto.random.bytes(32) ~= b, s = s, d = d, id = id }
          local v, e = crypto.random.bytes(0); r.zero = { v == nil, E(e) }
          v, e = crypto.random.bytes(1048577); r.big = { v == nil, E(e) }
          v, e = crypto.random.string(-1); r.neg = { v == nil, E(e) }
          v, e = crypto.random.string(8, ""); r.charset = { v == nil, E(e) }
          r.max = #crypto.random.bytes(1048576)
          r.bad_arg = { pcall_msg(crypto.random.bytes, "lots") }
          return r
        end }
        """,
        ["crypto"],
    )
    out = u.call()
    assert out["b"] == 32 and out["b2"] is True and out["max"] == 1048576
    assert len(out["s"]) == 64 and out["s"].isalnum() and out["s"].isascii()
    assert set(out["d"]) <= {"0", "1"} and len(out["d"]) == 200
    import uuid

    assert uuid.UUID(out["id"]).version == 4
    assert out["zero"] == [True, err(INVALID, "length must be a positive integer")]
    assert out["neg"] == [True, err(INVALID, "length must be a positive integer")]
    assert out["big"] == [True, err(INVALID, "length exceeds maximum allowed size (1MB)")]
    assert out["charset"] == [True, err(INVALID, "charset cannot be empty")]
    assert out["bad_arg"][0] is False
    assert "bad argument #1 to 'bytes' (number expected, got string)" in out["bad_arg"][1]


def test_crypto_hmac_pbkdf2_and_compare(unit):
    u = unit(
        """
        local crypto = require("crypto")
        return { handler = function()
          local msg, key = "what do ya want for nothing?", "Jefe"
          local r = { sha256 = crypto.hmac.sha256(key, msg), sha512 = crypto.hmac.sha512(key, msg) }
          local v, e = crypto.hmac.sha256("", msg); r.empty = { v == nil, E(e) }
          r.kdf = hex(crypto.pbkdf2("passwd", "salt", 1, 64))
          r.kdf512 = hex(crypto.pbkdf2("password", "salt", 2, 32, "sha512"))
          v, e = crypto.pbkdf2("", "salt", 1, 32); r.no_pw = { v == nil, E(e) }
          v, e = crypto.pbkdf2("pw", "", 1, 32); r.no_salt = { v == nil, E(e) }
          v, e = crypto.pbkdf2("pw", "salt", 0, 32); r.no_iter = { v == nil, E(e) }
          v, e = crypto.pbkdf2("pw", "salt", 10000001, 32); r.many = { v == nil, E(e) }
          v, e = crypto.pbkdf2("pw", "salt", 1, 0); r.no_len = { v == nil, E(e) }
          v, e = crypto.pbkdf2("pw", "salt", 1, 32, "md5"); r.md5 = { v == nil, E(e) }
          r.same = crypto.constant_time_compare("abc", "abc")
          r.differ = crypto.constant_time_compare("abc", "abd")
          r.length = crypto.constant_time_compare("abc", "abcd")
          return r
        end }
        """,
        ["crypto"],
    )
    out = u.call()
    # RFC 4231 test case 2, through crypto's (key, data) order.
    assert out["sha256"] == "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
    assert out["sha512"].startswith("164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd6")
    assert out["empty"] == [True, err(INVALID, "key cannot be empty")]
    # RFC 7914 section 11 (PBKDF2-HMAC-SHA256, c=1, dkLen=64).
    assert out["kdf"] == (
        "55ac046e56e3089fec1691c22544b605f94185216dde0465e68b9d57c20dacbc"
        "49ca9cccf179b645991664b39d77ef317c71b845b1e30bd509112041d3a19783"
    )
    assert out["kdf512"] == hashlib.pbkdf2_hmac("sha512", b"password", b"salt", 2, 32).hex()
    assert out["no_pw"] == [True, err(INVALID, "password cannot be empty")]
    assert out["no_salt"] == [True, err(INVALID, "salt cannot be empty")]
    assert out["no_iter"] == [True, err(INVALID, "iterations must be positive")]
    assert out["many"] == [True, err(INVALID, "iterations exceeds maximum (10000000)")]
    assert out["no_len"] == [True, err(INVALID, "key length must be positive")]
    assert out["md5"] == [True, err(INVALID, "unsupported hash function: md5")]
    assert (out["same"], out["differ"], out["length"]) == (True, False, False)


# -- crypto: AEAD ---------------------------------------------------------------------------------
GCM_KEY = "feffe9928665731c6d6a8f9467308308"
GCM_IV = "cafebabefacedbaddecaf888"
GCM_P = (
    "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"
    "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b391aafd255"
)
GCM_C = (
    "42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e"
    "21d514b25466931c7d8f6a5aac84aa051ba30b396a0aac973d58e091473f5985"
)
GCM_T = "4d5c2af327cd64a62cf35abd2ba6fab4"
CHACHA_KEY = bytes(range(0x80, 0xA0)).hex()
CHACHA_NONCE = "070000004041424344454647"
CHACHA_AAD = "50515253c0c1c2c3c4c5c6c7"
CHACHA_TEXT = (
    "Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the "
    "future, sunscreen would be it."
)
CHACHA_TAG = "1ae10b594f09e26a7e902ecbd0600691"


def test_crypto_decrypts_the_published_vectors(unit):
    sealed = ChaCha20Poly1305(bytes.fromhex(CHACHA_KEY)).encrypt(
        bytes.fromhex(CHACHA_NONCE), CHACHA_TEXT.encode(), bytes.fromhex(CHACHA_AAD)
    )
    assert sealed[-16:].hex() == CHACHA_TAG  # RFC 8439 section 2.8.2
    u = unit(
        """
        local crypto = require("crypto")
        return { handler = function(gcm_key, gcm_data, cc_key, cc_data, cc_aad)
          local p, e = crypto.decrypt.aes(unhex(gcm_data), unhex(gcm_key))
          local t, e2 = crypto.decrypt.chacha20(unhex(cc_data), unhex(cc_key), unhex(cc_aad))
          local n, e3 = crypto.decrypt.chacha20(unhex(cc_data), unhex(cc_key))
          return { gcm = hex(p), gcm_err = E(e), cc = t, cc_err = E(e2), no_aad = { n == nil, E(e3) } }
        end }
        """,
        ["crypto"],
    )
    out = u.call(
        GCM_KEY, GCM_IV + GCM_C + GCM_T, CHACHA_KEY, CHACHA_NONCE + sealed.hex(), CHACHA_AAD
    )
    assert out["gcm"] == GCM_P and out.get("gcm_err") is None  # GCM spec, test case 3
    assert out["cc"] == CHACHA_TEXT and out.get("cc_err") is None
    assert out["no_aad"] == [
        True,
        err(INTERNAL, "decrypt: chacha20poly1305: message authentication failed"),
    ]


def test_crypto_encrypts_with_a_fresh_nonce_that_cryptography_opens(unit):
    u = unit(
        """
        local crypto = require("crypto")
        return { handler = function()
          local k16, k24, k32 = string.rep("k", 16), string.rep("k", 24), string.rep("k", 32)
          local r = {}
          for name, k in pairs({ a16 = k16, a24 = k24, a32 = k32 }) do
            local c = crypto.encrypt.aes("secret text", k, "hdr")
            r[name] = { hex(c), crypto.decrypt.aes(c, k, "hdr") }
          end
          local c = crypto.encrypt.chacha20("secret text", k32)
          r.cc = { hex(c), crypto.decrypt.chacha20(c, k32) }
          r.differ = crypto.encrypt.aes("x", k16) ~= crypto.encrypt.aes("x", k16)
          return r
        end }
        """,
        ["crypto"],
    )
    out = u.call()
    for name, size in (("a16", 16), ("a24", 24), ("a32", 32)):
        sealed, back = out[name]
        data = bytes.fromhex(sealed)
        assert len(data) == 12 + len("secret text") + 16  # nonce, ciphertext, tag
        assert AESGCM(b"k" * size).decrypt(data[:12], data[12:], b"hdr") == b"secret text"
        assert back == "secret text"
    data = bytes.fromhex(out["cc"][0])
    assert ChaCha20Poly1305(b"k" * 32).decrypt(data[:12], data[12:], None) == b"secret text"
    assert out["cc"][1] == "secret text" and out["differ"] is True


def test_crypto_bad_keys_and_tampered_ciphertexts(unit):
    u = unit(
        """
        local crypto = require("crypto")
        return { handler = function()
          local k = string.rep("k", 32)
          local r = {}
          local v, e = crypto.encrypt.aes("x", "short"); r.aes_key = { v == nil, E(e) }
          v, e = crypto.decrypt.aes("x", string.rep("k", 17)); r.aes_key2 = { v == nil, E(e) }
          v, e = crypto.encrypt.chacha20("x", string.rep("k", 16)); r.cc_key = { v == nil, E(e) }
          v, e = crypto.decrypt.chacha20("x", ""); r.cc_key2 = { v == nil, E(e) }
          v, e = crypto.decrypt.aes("too short", k); r.short = { v == nil, E(e) }
          local c = crypto.encrypt.aes("payload", k, "aad")
          local flipped = c:sub(1, -2) .. string.char((c:byte(-1) + 1) % 256)
          v, e = crypto.decrypt.aes(flipped, k, "aad"); r.tag = { v == nil, E(e) }
          local body = c:sub(1, 12) .. string.char((c:byte(13) + 1) % 256) .. c:sub(14)
          v, e = crypto.decrypt.aes(body, k, "aad"); r.body = { v == nil, E(e) }
          v, e = crypto.decrypt.aes(c, k, "other"); r.aad = { v == nil, E(e) }
          v, e = crypto.decrypt.aes(c, string.rep("j", 32), "aad"); r.wrong_key = { v == nil, E(e) }
          local cc = crypto.encrypt.chacha20("payload", k)
          v, e = crypto.decrypt.chacha20(cc:sub(1, -2) .. "x", k); r.cc_tag = { v == nil, E(e) }
          r.no_data = { pcall_msg(crypto.encrypt.aes, nil, k) }
          return r
        end }
        """,
        ["crypto"],
    )
    out = u.call()
    aes_size = err(INVALID, "key must be 16, 24, or 32 bytes")
    assert out["aes_key"] == [True, aes_size] and out["aes_key2"] == [True, aes_size]
    cc_size = err(INVALID, "key must be 32 bytes")
    assert out["cc_key"] == [True, cc_size] and out["cc_key2"] == [True, cc_size]
    assert out["short"] == [True, err(INVALID, "encrypted data too short")]
    gcm_failed = [True, err(INTERNAL, "decrypt: cipher: message authentication failed")]
    for case in ("tag", "body", "aad", "wrong_key"):
        assert out[case] == gcm_failed, case
    assert out["cc_tag"] == [
        True,
        err(INTERNAL, "decrypt: chacha20poly1305: message authentication failed"),
    ]
    assert out["no_data"][0] is False
    assert "bad argument #1 to 'aes' (string expected, got nil)" in out["no_data"][1]


# -- crypto: JWT ----------------------------------------------------------------------------------
def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _rsa_pems() -> tuple[str, str, Any]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    public = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    return private, public, key


JWT_LUA = """
local crypto = require("crypto")
return { handler = function(op, ...)
  local v, e
  if op == "encode" then
    v, e = crypto.jwt.encode(...)
  else
    v, e = crypto.jwt.verify(...)
  end
  return { value = v, err = E(e) }
end }
"""


def test_jwt_hs_round_trips_and_signs_what_hmac_signs(unit):
    u = unit(JWT_LUA, ["crypto"])
    exp = int(START) + 3600
    claims = {"sub": "user-1", "exp": exp, "roles": ["a", "b"], "_header": {"kid": "k1"}}
    for alg, digest in (("HS256", "sha256"), ("HS384", "sha384"), ("HS512", "sha512")):
        token = u.call("encode", claims, "secret", alg)["value"]
        head, body, sig = token.split(".")
        assert json.loads(_unb64(head)) == {"alg": alg, "typ": "JWT", "kid": "k1"}
        assert json.loads(_unb64(body)) == {"sub": "user-1", "exp": exp, "roles": ["a", "b"]}
        import hmac

        expected = hmac.new(b"secret", f"{head}.{body}".encode(), digest).digest()
        assert _unb64(sig) == expected
        out = u.call("verify", token, "secret", alg)
        assert out == {"value": {"sub": "user-1", "exp": exp, "roles": ["a", "b"]}}
    # The default algorithm is HS256, on both sides.
    token = u.call("encode", {"exp": exp}, "secret")["value"]
    assert json.loads(_unb64(token.split(".")[0]))["alg"] == "HS256"
    assert u.call("verify", token, "secret") == {"value": {"exp": exp}}


def test_jwt_rs256_cross_checks_with_cryptography(unit):
    private, public, key = _rsa_pems()
    u = unit(JWT_LUA, ["crypto"])
    token = u.call("encode", {"sub": "x", "exp": int(START) + 60}, private, "RS256")["value"]
    head, body, sig = token.split(".")
    key.public_key().verify(
        _unb64(sig), f"{head}.{body}".encode(), padding.PKCS1v15(), hashes.SHA256()
    )
    assert u.call("verify", token, public, "RS256")["value"]["sub"] == "x"
    # A token signed outside (by cryptography) verifies inside.
    head = _b64(json.dumps({"alg": "RS256", "typ": "JWT"}).encode())
    body = _b64(json.dumps({"sub": "outside", "exp": int(START) + 60}).encode())
    signature = key.sign(f"{head}.{body}".encode(), padding.PKCS1v15(), hashes.SHA256())
    outside = f"{head}.{body}.{_b64(signature)}"
    assert u.call("verify", outside, public, "RS256")["value"]["sub"] == "outside"
    # Tampered, other key, bad PEMs.
    other_public = _rsa_pems()[1]
    assert u.call("verify", outside, other_public, "RS256")["err"] == err(
        INTERNAL, "verify token: token signature is invalid: crypto/rsa: verification error"
    )
    bad = u.call("encode", {"exp": 1}, "not a pem", "RS256")["err"]
    assert bad == err(
        INVALID, "invalid RSA private key: failed to parse PEM block containing private key"
    )
    bad = u.call("verify", outside, "not a pem", "RS256")["err"]
    assert bad == err(
        INTERNAL,
        "verify token: token is unverifiable: error while executing keyfunc: "
        "failed to parse PEM block containing public key",
    )


def test_jwt_refusals_name_what_failed(unit):
    u = unit(JWT_LUA, ["crypto"])
    now = int(START)
    good = u.call("encode", {"sub": "a", "exp": now + 60}, "secret")["value"]
    head, _body, sig = good.split(".")
    forged = _b64(json.dumps({"sub": "admin", "exp": now + 60}).encode())
    cases = {
        "bad signature": (
            u.call("verify", f"{head}.{forged}.{sig}", "secret"),
            INTERNAL,
            "verify token: token signature is invalid: signature is invalid",
        ),
        "wrong secret": (
            u.call("verify", good, "other"),
            INTERNAL,
            "verify token: token signature is invalid: signature is invalid",
        ),
        "expired": (
            u.call("verify", u.call("encode", {"exp": now - 1}, "s")["value"], "s"),
            INTERNAL,
            "verify token: token has invalid claims: token is expired",
        ),
        "expires now": (
            u.call("verify", u.call("encode", {"exp": now}, "s")["value"], "s"),
            INTERNAL,
            "verify token: token has invalid claims: token is expired",
        ),
        "no exp": (
            u.call("verify", u.call("encode", {"sub": "a"}, "s")["value"], "s"),
            INTERNAL,
            "verify token: token has invalid claims: token is missing required claim: "
            "exp claim is required",
        ),
        "not yet": (
            u.call("verify", u.call("encode", {"exp": now + 9, "nbf": now + 5}, "s")["value"], "s"),
            INTERNAL,
            "verify token: token has invalid claims: token is not valid yet",
        ),
        "other alg": (
            u.call("verify", good, "secret", "HS512"),
            INTERNAL,
            "verify token: token signature is invalid: signing method HS256 is invalid",
        ),
        "malformed": (
            u.call("verify", "abc.def", "secret"),
            INTERNAL,
            "verify token: token is malformed: token contains an invalid number of segments",
        ),
        "unknown alg (encode)": (
            u.call("encode", {"a": 1}, "s", "ES256"),
            INVALID,
            "unsupported algorithm: ES256 (HS256, HS384, HS512 or RS256)",
        ),
        "unknown alg (verify)": (
            u.call("verify", good, "s", "none"),
            INVALID,
            "unsupported algorithm: none (HS256, HS384, HS512 or RS256)",
        ),
        "empty key": (u.call("encode", {"a": 1}, ""), INVALID, "key cannot be empty"),
        "not a map": (u.call("encode", [1, 2], "s"), INVALID, "failed to convert payload to map"),
    }
    for name, (out, kind, message) in cases.items():
        assert out == {"err": err(kind, message)}, name
    # require_exp = false accepts a token without exp (an expired one still fails).
    no_exp = u.call("encode", {"sub": "a"}, "s")["value"]
    assert u.call("verify", no_exp, "s", "HS256", False) == {"value": {"sub": "a"}}


# -- yaml -----------------------------------------------------------------------------------------
def test_yaml_encode_writes_what_wippy_writes(unit):
    u = unit(
        """
        local yaml = require("yaml")
        return { handler = function()
          local entry = { zebra = 1, alpha = 2, name = "test", kind = "demo" }
          return {
            simple = yaml.encode({ name = "myapp", port = 8080, debug = true }),
            list = yaml.encode({ "apple", "banana", "cherry" }),
            nested = yaml.encode({ http = { address = ":8080", timeout = "30s" },
                                   database = { host = "localhost", port = 5432 } }),
            ordered = yaml.encode(entry, { field_order = { "name", "kind" }, sort_unordered = true }),
            sorted = yaml.encode(entry, { sort_unordered = true }),
            only_order = yaml.encode({ b = 1, a = 2, c = 3 }, { field_order = { "c" } }),
            quoting = yaml.encode({ n = "123", b = "true", y = "yes", e = "", f = 2.5,
                                    w = 3.0, big = 1e6, ml = "one\\ntwo", items = { { a = 1, b = 2 } } }),
            natural = yaml.encode({ x10 = 1, x9 = 2, x1 = 3 }),
          }
        end }
        """,
        ["yaml"],
    )
    out = u.call()
    assert out["simple"] == "debug: true\nname: myapp\nport: 8080\n"
    assert out["list"] == "- apple\n- banana\n- cherry\n"
    assert out["nested"] == (
        'database:\n    host: localhost\n    port: 5432\nhttp:\n    address: ":8080"\n'
        "    timeout: 30s\n"
    ) or out["nested"] == (
        "database:\n    host: localhost\n    port: 5432\nhttp:\n    address: :8080\n"
        "    timeout: 30s\n"
    )
    assert out["ordered"] == "name: test\nkind: demo\nalpha: 2\nzebra: 1\n"
    assert out["sorted"] == "alpha: 2\nkind: demo\nname: test\nzebra: 1\n"
    assert out["only_order"] == "c: 3\na: 2\nb: 1\n"
    assert out["quoting"] == (
        'b: "true"\nbig: 1e+06\ne: ""\nf: 2.5\nitems:\n    -   a: 1\n        b: 2\n'
        # yaml.v3 quotes YAML 1.1 booleans (y, n, yes, off...) even as keys.
        'ml: |-\n    one\n    two\n"n": "123"\nw: 3\n"y": "yes"\n'
    )
    assert out["natural"] == "x1: 3\nx9: 2\nx10: 1\n"


def test_yaml_decode_and_round_trip(unit):
    u = unit(
        """
        local yaml = require("yaml")
        return { handler = function(text)
          local config, e = yaml.decode(text)
          local back = yaml.decode(yaml.encode(config))
          return {
            host = config.server.host, port = config.server.port,
            port_type = math.type(config.server.port), ratio = config.ratio,
            first = config.features[1], n = #config.features, enabled = config.enabled,
            yes = config.yes, hexnum = config.hexnum, sci = config.sci, stamp = config.stamp,
            empty = config.empty == nil, err = e,
            back_port_type = math.type(back.server.port), back = back,
            scalar = yaml.decode("42"), str = yaml.decode("hello"), null = yaml.decode("~") == nil,
          }
        end }
        """,
        ["yaml"],
    )
    text = (
        "server:\n  host: localhost\n  port: 8080\nfeatures:\n  - auth\n  - logging\n  - metrics\n"
        "ratio: 3.14\nenabled: true\nyes: no\nhexnum: 0x1F\nsci: 1e3\nstamp: 2001-12-14\nempty:\n"
    )
    out = u.call(text)
    assert (out["host"], out["port"], out["port_type"]) == ("localhost", 8080, "integer")
    assert (out["ratio"], out["first"], out["n"], out["enabled"]) == (3.14, "auth", 3, True)
    # yaml.v3's types: yes/no are strings, 1e3 a float, timestamps stay text.
    assert (out["yes"], out["hexnum"], out["sci"], out["stamp"]) == ("no", 31, 1000.0, "2001-12-14")
    assert out["empty"] is True and "err" not in out
    assert out["back_port_type"] == "integer"
    assert out["back"]["features"] == ["auth", "logging", "metrics"]
    assert out["back"]["yes"] == "no" and out["back"]["stamp"] == "2001-12-14"
    assert (out["scalar"], out["str"], out["null"]) == (42, "hello", True)


def test_yaml_refusals(unit):
    u = unit(
        """
        local yaml = require("yaml")
        return { handler = function()
          local r = {}
          local v, e = yaml.encode("text"); r.enc_str = { v == nil, E(e) }
          v, e = yaml.encode(); r.enc_none = { v == nil, E(e) }
          v, e = yaml.encode({ f = print }); r.enc_fn = { v == nil, E(e) }
          v, e = yaml.decode(42); r.dec_num = { v == nil, E(e) }
          v, e = yaml.decode(""); r.dec_empty = { v == nil, E(e) }
          v, e = yaml.decode("a: b: c"); r.syntax = { v == nil, E(e) }
          v, e = yaml.decode("ok: 1\\nlist: [1, 2\\nnext: 3"); r.syntax2 = { v == nil, E(e) }
          v, e = yaml.decode("key: !!python/object:os.system ls"); r.unsafe = { v == nil, E(e) }
          v, e = yaml.decode("a: &a [*a]"); r.cycle = { v == nil, E(e) }
          local laughs = 'a: &a ["x","x","x","x","x","x","x","x","x","x"]\\n'
          for i, name in ipairs({ "b", "c", "d", "e", "f", "g" }) do
            local prev = string.char(string.byte(name) - 1)
            laughs = laughs .. name .. ": &" .. name .. " [" .. string.rep("*" .. prev .. ",", 9) .. "*" .. prev .. "]\\n"
          end
          v, e = yaml.decode(laughs); r.laughs = { v == nil, E(e) }
          return r
        end }
        """,
        ["yaml"],
    )
    out = u.call()
    assert out["enc_str"] == [True, err(INVALID, "table expected")]
    assert out["enc_none"] == [True, err(INVALID, "table expected")]
    assert out["enc_fn"][0] is True and out["enc_fn"][1]["kind"] == INTERNAL
    assert out["enc_fn"][1]["message"].startswith("encode failed: ")
    assert out["dec_num"] == [True, err(INVALID, "string expected")]
    assert out["dec_empty"] == [True, err(INVALID, "input cannot be empty")]
    assert out["syntax"] == [
        True,
        err(INTERNAL, "decode failed: yaml: line 1, column 5: mapping values are not allowed here"),
    ]
    assert out["syntax2"][1]["kind"] == INTERNAL
    assert out["syntax2"][1]["message"].startswith("decode failed: yaml: line 3, column ")
    # Safe loading only: a Python tag is an error, never an object.
    assert out["unsafe"][1]["kind"] == INTERNAL
    assert "could not determine a constructor" in out["unsafe"][1]["message"]
    assert out["cycle"] == [
        True,
        err(INTERNAL, "decode failed: yaml: document nests too deep (a recursive alias?)"),
    ]
    assert out["laughs"] == [
        True,
        err(
            INTERNAL,
            "decode failed: yaml: document contains excessive aliasing (over 1000000 values)",
        ),
    ]


# -- manifest and workflows -----------------------------------------------------------------------
def test_listed_modules_load_without_a_missing_module_note(make_app):
    from runtime.modules import unavailable_modules

    assert {"hash", "crypto", "yaml"}.isdisjoint(unavailable_modules())
    app = make_app(
        'version: "1.0"\nnamespace: app\nentries:\n'
        "  - name: f\n    kind: function.lua\n    source: file://f.lua\n"
        "    method: handler\n    modules: [hash, crypto, yaml]\n",
        {
            "f.lua": (
                'local hash, crypto, yaml = require("hash"), require("crypto"), require("yaml")\n'
                "return { handler = function() return { yaml.encode({ h = hash.sha1('x') }),"
                " #crypto.random.bytes(4) } end }\n"
            )
        },
    )
    loaded = manifest.load_app(app)
    notes = [str(n) for n in getattr(loaded, "notes", [])]
    assert not any("not available" in n for n in notes)
    engine = Engine(loaded, clock=ManualClock(START))
    try:
        assert engine.call("app:f", []) == [
            "h: 11f6ad8ec52a2984abaafd7c3b516503785c2072\n",
            4,
        ]
    finally:
        engine.close()


def _run_workflow(make_app: MakeApp, source: str) -> tuple[list[Any], list[Event]]:
    app = make_app(
        'version: "1.0"\nnamespace: app\nentries:\n'
        "  - name: w\n    kind: workflow.lua\n    source: file://w.lua\n"
        "    modules: [hash, crypto, yaml, time]\n",
        {"w.lua": HELPERS + textwrap.dedent(source)},
    )
    results = []
    history: list[Event] = []
    for attempt in range(2):
        engine = Engine(manifest.load_app(app), clock=ManualClock(START + attempt))
        try:
            if attempt == 0:
                history = [Event(ev.WORKFLOW_STARTED, START, {"input": None}, seq=1)]
                step = Replay(engine, "app:w", "run-1", history).run(START)
                for event in step.new_events:
                    event.seq = len(history) + 1
                    history.append(event)
                history.append(Event(ev.TIMER_FIRED, START + 60, {"cmd": 1}, seq=len(history) + 1))
            # Replayed from the start on a fresh engine (a later Lambda).
            step = Replay(engine, "app:w", "run-1", history).run(START + 60)
            assert step.status == "completed", step
            results.append(step.result)
            if attempt == 0:
                # What the last step drew is in its events (before the ending): kept, as the
                # step's append keeps them, so the replay below draws them again.
                for event in step.new_events:
                    if event.type == ev.RANDOM_RECORDED:
                        event.seq = len(history) + 1
                        history.append(event)
        finally:
            engine.close()
    return results, history


def test_workflow_random_values_are_recorded_and_replayed(make_app):
    results, history = _run_workflow(
        make_app,
        """
        local hash, crypto, yaml, time = require("hash"), require("crypto"), require("yaml"), require("time")
        local function main()
          local key = crypto.random.bytes(32)
          local sealed = crypto.encrypt.aes("secret", key)
          local token = crypto.jwt.encode({ sub = crypto.random.uuid(), exp = os.time() + 3600 }, key)
          local word = crypto.random.string(12)
          time.sleep("1m")
          local claims, verr = crypto.jwt.verify(token, key)
          return {
            key = hex(key), sealed = hex(sealed), opened = crypto.decrypt.aes(sealed, key),
            token = token, sub = claims and claims.sub, verr = E(verr), word = word,
            digest = hash.sha256("x"), doc = yaml.encode({ a = 1 }),
            after = hex(crypto.encrypt.chacha20("later", key)),
          }
        end
        return { main = main }
        """,
    )
    first, second = results
    assert first == second  # a replay computes the same keys, ciphertexts and tokens
    assert first["opened"] == "secret" and first.get("verr") is None and len(first["word"]) == 12
    recorded = [e for e in history if e.type == ev.RANDOM_RECORDED]
    assert [(e.fields["index"], e.fields["size"], e.fields["what"]) for e in recorded] == [
        (0, 32, "crypto.random.bytes"),
        (1, 12, "crypto.encrypt.aes nonce"),
        (2, 16, "crypto.random.uuid"),
        (3, 12, "crypto.random.string"),
        (4, 12, "crypto.encrypt.chacha20 nonce"),
    ]
    assert base64.b64decode(recorded[0].fields["bytes"]).hex() == first["key"]
    assert bytes.fromhex(first["sealed"])[:12] == base64.b64decode(recorded[1].fields["bytes"])
    assert first["digest"] == hashlib.sha256(b"x").hexdigest() and first["doc"] == "a: 1\n"


def test_workflow_random_draw_too_large_for_history_is_refused(make_app):
    app = make_app(
        'version: "1.0"\nnamespace: app\nentries:\n'
        "  - name: w\n    kind: workflow.lua\n    source: file://w.lua\n    modules: [crypto]\n",
        {
            "w.lua": HELPERS + "local crypto = require('crypto')\n"
            "return { main = function()\n"
            "  local v, e = crypto.random.bytes(1048576)\n"
            "  return { v == nil, E(e) }\nend }\n"
        },
    )
    engine = Engine(manifest.load_app(app), clock=ManualClock(START))
    try:
        history = [Event(ev.WORKFLOW_STARTED, START, {"input": None}, seq=1)]
        step = Replay(engine, "app:w", "run-1", history).run(START)
    finally:
        engine.close()
    assert step.status == "completed"
    refused, error = step.result
    assert refused is True and error["kind"] == INVALID
    assert error["message"].startswith("crypto.random.bytes: 1048576 random bytes: ")
    assert "350 KB" in error["message"]
    assert not [e for e in step.new_events if e.type == ev.RANDOM_RECORDED]


def test_jwt_verify_in_a_workflow_uses_the_run_time(make_app):
    # exp is checked against the recorded time, not the wall clock: a replay decides alike.
    assert time.time() > START
    results, _ = _run_workflow(
        make_app,
        """
        local crypto, time = require("crypto"), require("time")
        local function main()
          local token = crypto.jwt.encode({ exp = os.time() + 30 }, "k")
          local before = crypto.jwt.verify(token, "k") ~= nil
          time.sleep("1m")
          local after, e = crypto.jwt.verify(token, "k")
          return { before = before, after = after == nil, err = E(e) }
        end
        return { main = main }
        """,
    )
    assert (
        results[0]
        == results[1]
        == {
            "before": True,
            "after": True,
            "err": err(INTERNAL, "verify token: token has invalid claims: token is expired"),
        }
    )
