// A relying party built on openid-client (an OpenID Connect client nobody in this project
// wrote), driven by tests/identity/oidc/test_interop_openid_client.py against a running
// `parvis serve`. The test plays the browser; this script plays the platform.
//
// Conversation on stdin/stdout, one JSON object per line:
//   in  {"issuer", "client_id", "client_secret" (null: public client, PKCE only),
//        "redirect_uri", "post_logout_redirect_uri", "scope"}
//   out {"authorization_url"}            discovery, then the request with PKCE S256, state, nonce
//   in  {"callback_url"}                  where the browser was sent back with the code
//   out {"id_token_claims", "userinfo", "token_type", "scope", "replay",
//        "end_session_url", "logout_state"}
// Whatever openid-client rejects (discovery, RFC 9207 iss, state, the ID token's iss, aud,
// nonce or signature, the userinfo sub, …) ends the script with {"error", "message"} and a
// non-zero exit: the test fails.
//
// Run from the repository root: node tests/node/oidc_rp.mjs (packages come from web/).

import { createRequire } from 'node:module';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

const here = path.dirname(fileURLToPath(import.meta.url));
const requireFromWeb = createRequire(path.join(here, '..', '..', 'web', 'package.json'));
const client = await import(requireFromWeb.resolve('openid-client'));

const lines = createInterface({ input: process.stdin })[Symbol.asyncIterator]();

async function read() {
  const { value, done } = await lines.next();
  if (done) throw new Error('stdin closed before the test answered');
  return JSON.parse(value);
}

function write(message) {
  process.stdout.write(`${JSON.stringify(message)}\n`);
}

async function main() {
  const setup = await read();
  const auth = setup.client_secret ? client.ClientSecretBasic(setup.client_secret) : client.None();
  const config = await client.discovery(new URL(setup.issuer), setup.client_id, undefined, auth, {
    execute: [
      // The test server listens on http://127.0.0.1 (loopback only): openid-client refuses
      // plain http unless told to; a platform in production talks to an https issuer.
      client.allowInsecureRequests,
      // Verify the ID token's signature against the provider's JWKS (jwks_uri), which
      // openid-client otherwise skips for tokens received directly from the token endpoint.
      client.enableNonRepudiationChecks,
    ],
  });

  const verifier = client.randomPKCECodeVerifier();
  const state = client.randomState();
  const nonce = client.randomNonce();
  const url = client.buildAuthorizationUrl(config, {
    redirect_uri: setup.redirect_uri,
    scope: setup.scope,
    code_challenge: await client.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
    state,
    nonce,
  });
  write({ authorization_url: url.href });

  const { callback_url: callbackUrl } = await read();
  const checks = { pkceCodeVerifier: verifier, expectedState: state, expectedNonce: nonce };
  // Checks iss (RFC 9207, the provider announces it), state, the code exchange, then the ID
  // token: signature (JWKS), iss, aud, exp/iat, nonce.
  const tokens = await client.authorizationCodeGrant(config, new URL(callbackUrl), checks);
  const claims = tokens.claims();
  // UserInfo's sub must be the ID token's (OpenID Connect Core §5.3.2).
  const userinfo = await client.fetchUserInfo(config, tokens.access_token, claims.sub);

  // The same code a second time: the provider must refuse it (RFC 6749 §4.1.2).
  let replay = 'accepted';
  try {
    await client.authorizationCodeGrant(config, new URL(callbackUrl), checks);
  } catch (err) {
    replay = err.error ?? err.code ?? err.name;
  }

  const logoutState = client.randomState();
  const endSession = client.buildEndSessionUrl(config, {
    id_token_hint: tokens.id_token,
    post_logout_redirect_uri: setup.post_logout_redirect_uri,
    state: logoutState,
  });
  write({
    id_token_claims: claims,
    userinfo,
    token_type: tokens.token_type,
    scope: tokens.scope ?? null,
    replay,
    end_session_url: endSession.href,
    logout_state: logoutState,
  });
}

try {
  await main();
} catch (err) {
  write({ error: err.error ?? err.code ?? err.name, message: String(err.message ?? err) });
  process.exitCode = 1;
}
