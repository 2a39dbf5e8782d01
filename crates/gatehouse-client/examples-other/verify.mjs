// Verify gatehouse access tokens and gateway assertions with jose, by gatehouse's rules.
//
//   node verify.mjs access    ISSUER AUDIENCE TOKEN              [--now UNIX_SECONDS]
//   node verify.mjs assertion ISSUER AUDIENCE TOKEN METHOD URL   [--now UNIX_SECONDS]
//
// Prints the claims as JSON and exits 0 when the token is accepted; prints "refused: <why>" on
// stderr and exits 1 when it is not; exits 3 when gatehouse's key set cannot be fetched.
// Needs the npm package jose (npm install jose).

import { pathToFileURL } from "node:url";
import { createRemoteJWKSet, decodeProtectedHeader, errors, jwtVerify } from "jose";

export const LEEWAY_SECONDS = 30; // gatehouse's own tolerance on exp and nbf
const ACCESS_TOKEN_TYPE = "at+jwt"; // jose also accepts "application/at+jwt", as gatehouse does
const ASSERTION_TYPE = "gatehouse-assertion+jwt";
const KEY_BEARING_HEADERS = ["jku", "jwk", "x5u", "x5c"]; // jose itself refuses unknown "crit"
const REQUIRED_CLAIMS = ["iss", "aud", "sub", "jti", "iat", "nbf", "exp"];

export class Refused extends Error {}

// gatehouse's JWKS, cached by jose: an unknown kid refetches it at most once a minute, and
// keys older than five minutes are fetched again.
export function gatehouseKeys(issuer) {
  const url = new URL(`${issuer.replace(/\/+$/, "")}/.well-known/jwks.json`);
  return createRemoteJWKSet(url, { cooldownDuration: 60_000, cacheMaxAge: 300_000 });
}

async function verifyTyped(token, keys, typ, { issuer, audience, now }) {
  let header;
  try {
    header = decodeProtectedHeader(token);
  } catch (e) {
    throw new Refused(`malformed: ${e.message}`);
  }
  if (typeof header.kid !== "string") throw new Refused("kid: missing");
  if (KEY_BEARING_HEADERS.some((h) => h in header)) throw new Refused("header: names or carries a key");
  try {
    const { payload } = await jwtVerify(token, keys, {
      algorithms: ["EdDSA"],
      typ,
      issuer,
      audience,
      clockTolerance: LEEWAY_SECONDS,
      currentDate: now === undefined ? undefined : new Date(now * 1000),
      requiredClaims: REQUIRED_CLAIMS,
    });
    if (typeof payload.aud !== "string") throw new Refused("aud: not a single audience");
    return payload;
  } catch (e) {
    if (e instanceof errors.JOSEError && !(e instanceof errors.JWKSTimeout)) {
      throw new Refused(`${e.code}: ${e.message}`);
    }
    throw e; // the key set could not be fetched: not the token's fault
  }
}

// The claims of an access token gatehouse would accept (revocation aside).
export function verifyAccessToken(token, keys, { issuer, audience = "gatehouse", now } = {}) {
  return verifyTyped(token, keys, ACCESS_TOKEN_TYPE, { issuer, audience, now });
}

// The claims of a gateway assertion made for `method` on `url`, the public URL the request was
// sent to (from your configuration, not the request's Host header).
export async function verifyAssertion(token, keys, { issuer, audience, method, url, now }) {
  const claims = await verifyTyped(token, keys, ASSERTION_TYPE, { issuer, audience, now });
  if (claims.htm !== method) throw new Refused("htm: made for another method");
  if (claims.htu !== url.split(/[?#]/)[0]) throw new Refused("htu: made for another URL");
  return claims;
}

async function main(args) {
  const nowAt = args.indexOf("--now");
  const now = nowAt >= 0 ? Number(args.splice(nowAt, 2)[1]) : undefined;
  const [kind, issuer, audience, token, method, url] = args;
  const wellFormed = kind === "access" ? args.length === 4 : kind === "assertion" && args.length === 6;
  if (!wellFormed) {
    console.error("usage: verify.mjs access|assertion ISSUER AUDIENCE TOKEN [METHOD URL] [--now N]");
    return 2;
  }
  const keys = gatehouseKeys(issuer);
  try {
    const claims =
      kind === "access"
        ? await verifyAccessToken(token, keys, { issuer, audience, now })
        : await verifyAssertion(token, keys, { issuer, audience, method, url, now });
    console.log(JSON.stringify(claims));
    return 0;
  } catch (e) {
    if (e instanceof Refused) {
      console.error(`refused: ${e.message}`);
      return 1;
    }
    console.error(`unavailable: ${e.message}`);
    return 3;
  }
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) {
  process.exitCode = await main(process.argv.slice(2));
}
