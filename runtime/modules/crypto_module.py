"""``crypto``: Wippy's crypto module (``en/lua/security/crypto.md``).

- ``random.bytes(n)``, ``random.string(n, charset?)`` (default: ASCII letters and digits; each
  character is a random byte modulo the charset's length, as in Wippy), ``random.uuid()`` (v4);
  ``n`` from 1 to 1,048,576.
- ``hmac.sha256(key, data)``, ``hmac.sha512(key, data)``: hex; an empty key is refused.
- ``encrypt.aes(data, key, aad?)`` (AES-GCM, 16/24/32-byte key, a random 12-byte nonce
  prepended to ciphertext and tag) and ``encrypt.chacha20(data, key, aad?)``
  (ChaCha20-Poly1305, 32-byte key, nonce prepended likewise); ``decrypt.aes`` /
  ``decrypt.chacha20`` take what those return.
- ``jwt.encode(payload, key, alg?)`` and ``jwt.verify(token, key, alg?, require_exp?)`` with
  HS256 (default), HS384, HS512 and RS256 (PEM keys); see :mod:`runtime.jwt_tokens`.
- ``pbkdf2(password, salt, iterations, key_length, hash?)``: raw bytes; sha256 (default) or
  sha512; at most 10,000,000 iterations.
- ``constant_time_compare(a, b)``: a boolean.

Errors are non-retryable ``nil, err``. INVALID: a length out of range, an empty key, password,
salt or charset, a key of the wrong size, data shorter than a nonce, an RSA key that does not
parse, an unsupported algorithm or hash. INTERNAL: a decryption that fails authentication
(``decrypt: cipher: message authentication failed``) and a token that does not verify
(``verify token: token has invalid claims: token is expired``, ...). An argument of the wrong
type is raised, as Wippy's argument checks raise (``bad argument #1 to 'aes' (string
expected, got nil)``); a number stands for its text where a string is expected, as in Wippy.

In a workflow every random value (the ``random`` functions and the encryption nonces) is drawn
once and recorded in the run's history (:meth:`runtime.durable.replay.Replay.random_bytes`),
as Wippy records them as side effects, so a replay computes the same tokens and ciphertexts.
Everything else is deterministic; ``jwt.verify`` checks ``exp`` against the run's time.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM, ChaCha20Poly1305

from runtime import jwt_tokens
from runtime.errors import INTERNAL, INVALID, CodecError, UnitError
from runtime.sandbox import lua_type

if TYPE_CHECKING:
    from runtime.engine import Engine, EntryRuntime

MAX_RANDOM = 1024 * 1024
MAX_PBKDF2_ITERATIONS = 10_000_000
DEFAULT_CHARSET = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
NONCE_SIZE = 12  # AES-GCM's standard nonce and ChaCha20-Poly1305's (RFC 8439)
_PBKDF2_HASHES = ("sha256", "sha512")


class _ArgError(Exception):
    """A Lua argument check failed: raised in the caller, as luaL_check* raises."""


def _type_name(value: Any) -> str:
    if value is None:
        return "nil"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, bytes):
        return "string"
    if isinstance(value, int | float):
        return "number"
    return lua_type(value) or "userdata"


def _number_text(value: int | float) -> bytes:
    if isinstance(value, int):
        return str(value).encode()
    text = f"{value:.14g}"
    return (text if any(c in text for c in ".eni") else text + ".0").encode()


class _Args:
    """Wippy's argument checks (``CheckString``, ``CheckInt``, ``OptString``, ``OptBool``)."""

    def __init__(self, fname: str, args: tuple[Any, ...]) -> None:
        self.fname, self.args = fname, args

    def get(self, n: int) -> Any:
        return self.args[n - 1] if len(self.args) >= n else None

    def fail(self, n: int, expected: str) -> _ArgError:
        got = _type_name(self.get(n)) if len(self.args) >= n else "no value"
        return _ArgError(f"bad argument #{n} to '{self.fname}' ({expected} expected, got {got})")

    def string(self, n: int) -> bytes:
        value = self.get(n)
        if isinstance(value, bytes):
            return value
        if isinstance(value, int | float) and not isinstance(value, bool):
            return _number_text(value)
        raise self.fail(n, "string")

    def integer(self, n: int) -> int:
        value = self.get(n)
        if isinstance(value, bytes):
            try:
                value = float(value) if b"." in value or b"e" in value.lower() else int(value, 0)
            except ValueError:
                raise self.fail(n, "number") from None
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.fail(n, "number")
        if isinstance(value, float):
            if value != value or value in (float("inf"), float("-inf")):
                raise self.fail(n, "number")
            value = int(value)  # Go's int(LNumber): toward zero
        return value

    def opt_string(self, n: int, default: bytes) -> bytes:
        return default if self.get(n) is None else self.string(n)

    def opt_bool(self, n: int, default: bool) -> bool:
        value = self.get(n)
        if value is None:
            return default
        if not isinstance(value, bool):
            raise self.fail(n, "boolean")
        return value

    def optional_bytes(self, n: int) -> bytes:
        """An optional string argument read only when it is a string (Wippy's ``aad``)."""
        value = self.get(n)
        return value if isinstance(value, bytes) else b""


def build(engine: Engine, unit: EntryRuntime) -> Any:
    state, codec = engine.state, engine.codec

    def error(kind: str, message: str) -> tuple[None, Any]:
        return None, state.new_error(kind, message, retryable=False)

    def fn(name: str, body: Callable[[_Args], Any]) -> Any:
        def call(*args: Any) -> Any:
            try:
                return body(_Args(name, args))
            except _ArgError as exc:
                return state.raise_in_lua(str(exc))
            except UnitError as exc:  # a random draw too large for a workflow's history
                return None, state.error_value(exc)

        return state.wrap(call)

    def random_bytes(size: int, what: str) -> bytes:
        replay = engine.current_replay()
        if replay is not None:
            return replay.random_bytes(size, what)
        return os.urandom(size)

    def length_error(length: int) -> Any:
        if length <= 0:
            return error(INVALID, "length must be a positive integer")
        if length > MAX_RANDOM:
            return error(INVALID, "length exceeds maximum allowed size (1MB)")
        return None

    # -- random ------------------------------------------------------------------------------
    def rand_bytes(a: _Args) -> Any:
        length = a.integer(1)
        return length_error(length) or (random_bytes(length, "crypto.random.bytes"), None)

    def rand_string(a: _Args) -> Any:
        length = a.integer(1)
        bad = length_error(length)
        if bad:
            return bad
        charset = DEFAULT_CHARSET
        if isinstance(a.get(2), bytes):
            charset = a.get(2)
            if not charset:
                return error(INVALID, "charset cannot be empty")
        size = len(charset)
        drawn = random_bytes(length, "crypto.random.string")
        return bytes(charset[b % size] for b in drawn), None

    def rand_uuid(a: _Args) -> Any:
        drawn = random_bytes(16, "crypto.random.uuid")
        return str(uuid.UUID(bytes=drawn, version=4)).encode(), None

    # -- hmac --------------------------------------------------------------------------------
    def hmac_of(digest: str) -> Callable[[_Args], Any]:
        def mac(a: _Args) -> Any:
            key, data = a.string(1), a.string(2)
            if not key:
                return error(INVALID, "key cannot be empty")
            return hmac.new(key, data, digest).hexdigest().encode(), None

        return mac

    # -- encryption --------------------------------------------------------------------------
    def aead_key(cipher: str, key: bytes) -> Any:
        if cipher == "aes":
            if len(key) not in (16, 24, 32):
                return error(INVALID, "key must be 16, 24, or 32 bytes")
            return AESGCM(key)
        if len(key) != 32:
            return error(INVALID, "key must be 32 bytes")
        return ChaCha20Poly1305(key)

    def encrypt_with(cipher: str) -> Callable[[_Args], Any]:
        def encrypt(a: _Args) -> Any:
            data, key, aad = a.string(1), a.string(2), a.optional_bytes(3)
            aead = aead_key(cipher, key)
            if isinstance(aead, tuple):
                return aead
            nonce = random_bytes(NONCE_SIZE, f"crypto.encrypt.{cipher} nonce")
            return nonce + aead.encrypt(nonce, data, aad or None), None

        return encrypt

    def decrypt_with(cipher: str) -> Callable[[_Args], Any]:
        failed = "cipher" if cipher == "aes" else "chacha20poly1305"

        def decrypt(a: _Args) -> Any:
            data, key, aad = a.string(1), a.string(2), a.optional_bytes(3)
            aead = aead_key(cipher, key)
            if isinstance(aead, tuple):
                return aead
            if len(data) < NONCE_SIZE:
                return error(INVALID, "encrypted data too short")
            try:
                plain = aead.decrypt(data[:NONCE_SIZE], data[NONCE_SIZE:], aad or None)
            except InvalidTag:
                return error(INTERNAL, f"decrypt: {failed}: message authentication failed")
            return plain, None

        return decrypt

    # -- jwt ---------------------------------------------------------------------------------
    def algorithm(a: _Args, n: int) -> str | None:
        alg = a.opt_string(n, b"HS256").decode("utf-8", "replace")
        return alg if alg in jwt_tokens.ALGORITHMS else None

    def unsupported(alg: bytes) -> Any:
        name = alg.decode("utf-8", "replace")
        return error(INVALID, f"unsupported algorithm: {name} (HS256, HS384, HS512 or RS256)")

    def jwt_encode(a: _Args) -> Any:
        payload = a.get(1)
        if lua_type(payload) != "table":
            raise a.fail(1, "table")
        key = a.string(2)
        alg = algorithm(a, 3)
        if alg is None:
            return unsupported(a.get(3))
        if not key:
            return error(INVALID, "key cannot be empty")
        try:
            claims = codec.to_python(payload, "payload")
        except CodecError as exc:
            return error(INVALID, f"failed to convert payload to map: {exc.message}")
        if not isinstance(claims, dict):
            return error(INVALID, "failed to convert payload to map")
        header = claims.pop("_header", None)
        header = header if isinstance(header, dict) else {}
        try:
            claims_json = codec.json_encode(codec.to_lua(claims, "payload"), "payload")
            token = jwt_tokens.encode(claims_json, header, key, alg)
        except CodecError as exc:
            return error(INTERNAL, f"sign token: {exc.message}")
        except jwt_tokens.PemKeyError as exc:
            return error(INVALID, f"invalid RSA private key: {exc}")
        return token, None

    def jwt_verify(a: _Args) -> Any:
        token, key = a.string(1), a.string(2)
        alg = algorithm(a, 3)
        require_exp = a.opt_bool(4, True)
        if alg is None:
            return unsupported(a.get(3))
        if not key:
            return error(INVALID, "key cannot be empty")
        try:
            claims = jwt_tokens.verify(token, key, alg, engine.now(), require_exp)
        except jwt_tokens.TokenError as exc:
            return error(INTERNAL, f"verify token: {exc}")
        try:
            return codec.to_lua(claims, "claims"), None
        except CodecError as exc:
            return error(INTERNAL, f"convert claims to table: {exc.message}")

    # -- key derivation and comparison --------------------------------------------------------
    def pbkdf2(a: _Args) -> Any:
        password, salt = a.string(1), a.string(2)
        iterations, key_length = a.integer(3), a.integer(4)
        if not password:
            return error(INVALID, "password cannot be empty")
        if not salt:
            return error(INVALID, "salt cannot be empty")
        if iterations <= 0:
            return error(INVALID, "iterations must be positive")
        if iterations > MAX_PBKDF2_ITERATIONS:
            return error(INVALID, f"iterations exceeds maximum ({MAX_PBKDF2_ITERATIONS})")
        if key_length <= 0:
            return error(INVALID, "key length must be positive")
        name = a.get(5) if isinstance(a.get(5), bytes) else b"sha256"
        digest = name.decode("utf-8", "replace")
        if digest not in _PBKDF2_HASHES:
            return error(INVALID, f"unsupported hash function: {digest}")
        # Bounded like random lengths: a derived key is held in memory whole.
        if key_length > MAX_RANDOM:
            return error(INVALID, "key length exceeds maximum allowed size (1MB)")
        return hashlib.pbkdf2_hmac(digest, password, salt, iterations, key_length), None

    def constant_time_compare(a: _Args) -> Any:
        return hmac.compare_digest(a.string(1), a.string(2))

    return state.table(
        random=state.table(
            bytes=fn("bytes", rand_bytes),
            string=fn("string", rand_string),
            uuid=fn("uuid", rand_uuid),
        ),
        hmac=state.table(
            sha256=fn("sha256", hmac_of("sha256")), sha512=fn("sha512", hmac_of("sha512"))
        ),
        encrypt=state.table(
            aes=fn("aes", encrypt_with("aes")), chacha20=fn("chacha20", encrypt_with("chacha20"))
        ),
        decrypt=state.table(
            aes=fn("aes", decrypt_with("aes")), chacha20=fn("chacha20", decrypt_with("chacha20"))
        ),
        jwt=state.table(encode=fn("encode", jwt_encode), verify=fn("verify", jwt_verify)),
        pbkdf2=fn("pbkdf2", pbkdf2),
        constant_time_compare=fn("constant_time_compare", constant_time_compare),
    )
