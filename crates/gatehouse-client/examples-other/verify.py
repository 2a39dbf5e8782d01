"""Verify gatehouse access tokens and gateway assertions with PyJWT, by gatehouse's rules.

    python3 verify.py access    ISSUER AUDIENCE TOKEN              [--now UNIX_SECONDS]
    python3 verify.py assertion ISSUER AUDIENCE TOKEN METHOD URL   [--now UNIX_SECONDS]

Prints the claims as JSON and exits 0 when the token is accepted; prints "refused: <why>" on
stderr and exits 1 when it is not; exits 3 when gatehouse's key set cannot be fetched.
Needs PyJWT with its crypto extra: pip install 'pyjwt[crypto]'.
"""

import argparse
import json
import re
import sys
import time
import urllib.request

import jwt

LEEWAY_SECONDS = 30  # gatehouse's own tolerance on exp and nbf
ACCESS_TOKEN_TYPES = ("at+jwt", "application/at+jwt")
ASSERTION_TYPES = ("gatehouse-assertion+jwt",)
KEY_BEARING_HEADERS = ("jku", "jwk", "x5u", "x5c", "crit")
REQUIRED_CLAIMS = ["iss", "aud", "sub", "jti", "iat", "nbf", "exp"]


class Refused(Exception):
    """The token is not acceptable (answer 401)."""


class Unavailable(Exception):
    """gatehouse's key set could not be fetched (answer 503)."""


class GatehouseKeys:
    """gatehouse's Ed25519 keys by kid, fetched from <issuer>/.well-known/jwks.json and
    refetched for an unknown kid (or after max_age seconds) at most once a minute."""

    def __init__(self, issuer, min_refresh=60, max_age=300):
        self.url = issuer.rstrip("/") + "/.well-known/jwks.json"
        self.min_refresh, self.max_age = min_refresh, max_age
        self.keys, self.fetched_at, self.tried_at = {}, None, None

    def _fetch(self):
        with urllib.request.urlopen(self.url, timeout=10) as response:
            document = json.load(response)
        return {
            k["kid"]: jwt.PyJWK(k)
            for k in document["keys"]
            if k.get("kty") == "OKP" and k.get("crv") == "Ed25519" and "kid" in k
        }

    def key(self, kid):
        now = time.monotonic()
        stale = self.fetched_at is None or now - self.fetched_at >= self.max_age
        may_fetch = self.tried_at is None or now - self.tried_at >= self.min_refresh
        if may_fetch and (kid not in self.keys or stale):
            self.tried_at = now
            try:
                self.keys, self.fetched_at = self._fetch(), now
            except (OSError, ValueError, KeyError, jwt.PyJWTError) as e:
                if kid not in self.keys:
                    raise Unavailable(f"{self.url}: {e}") from e
        if kid not in self.keys:
            raise Refused("kid: not in gatehouse's key set")
        return self.keys[kid]


def _verify(token, keys, types, issuer, audience, now):
    try:
        header = jwt.get_unverified_header(token)
    except jwt.DecodeError as e:
        raise Refused(f"malformed: {e}") from e
    if header.get("alg") != "EdDSA":
        raise Refused("alg: only EdDSA is accepted")
    if str(header.get("typ", "")).lower() not in types:
        raise Refused(f"typ: {header.get('typ')!r} is not {types[0]!r}")
    if any(h in header for h in KEY_BEARING_HEADERS):
        raise Refused("header: names or carries a key")
    if not isinstance(header.get("kid"), str):
        raise Refused("kid: missing")
    key = keys.key(header["kid"])
    try:
        # PyJWT checks the signature, iss, aud and the required claims. It reads the wall clock
        # itself, so the validity window is checked below against `now`, with gatehouse's rule.
        claims = jwt.decode(
            token,
            key.key,
            algorithms=["EdDSA"],
            issuer=issuer,
            audience=audience,
            options={
                "require": REQUIRED_CLAIMS,
                "strict_aud": True,
                "verify_exp": False,
                "verify_nbf": False,
                "verify_iat": False,
            },
        )
    except jwt.InvalidTokenError as e:
        raise Refused(f"{type(e).__name__}: {e}") from e
    now = time.time() if now is None else now
    if now >= claims["exp"] + LEEWAY_SECONDS:
        raise Refused("exp: expired")
    if now + LEEWAY_SECONDS < claims["nbf"]:
        raise Refused("nbf: not valid yet")
    return claims


def verify_access_token(token, keys, issuer, audience="gatehouse", now=None):
    """The claims of an access token gatehouse would accept (revocation aside)."""
    return _verify(token, keys, ACCESS_TOKEN_TYPES, issuer, audience, now)


def verify_assertion(token, keys, issuer, audience, method, url, now=None):
    """The claims of a gateway assertion made for `method` on `url`, the public URL the request
    was sent to (from your configuration, not the request's Host header)."""
    claims = _verify(token, keys, ASSERTION_TYPES, issuer, audience, now)
    if claims.get("htm") != method:
        raise Refused("htm: made for another method")
    if claims.get("htu") != re.split(r"[?#]", url, maxsplit=1)[0]:
        raise Refused("htu: made for another URL")
    return claims


def main(argv):
    parser = argparse.ArgumentParser(description="Verify a gatehouse token with PyJWT.")
    parser.add_argument("kind", choices=["access", "assertion"])
    parser.add_argument("issuer")
    parser.add_argument("audience")
    parser.add_argument("token")
    parser.add_argument("request", nargs="*", metavar="METHOD URL")
    parser.add_argument("--now", type=float, help="judge time as of these Unix seconds")
    args = parser.parse_args(argv)
    keys = GatehouseKeys(args.issuer)
    try:
        if args.kind == "access":
            claims = verify_access_token(args.token, keys, args.issuer, args.audience, args.now)
        elif len(args.request) == 2:
            method, url = args.request
            claims = verify_assertion(
                args.token, keys, args.issuer, args.audience, method, url, args.now
            )
        else:
            parser.error("an assertion needs METHOD and URL")
    except Refused as e:
        print(f"refused: {e}", file=sys.stderr)
        return 1
    except Unavailable as e:
        print(f"unavailable: {e}", file=sys.stderr)
        return 3
    print(json.dumps(claims))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
