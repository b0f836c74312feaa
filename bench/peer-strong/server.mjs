// node-oidc-provider with the strong-client features, for bench/run.sh --strong --peer.
//   PORT=3102 CLIENT_JWKS=client-jwks.json node server-strong.mjs   (run by ./run.sh)
// One confidential client, bench-strong: private_key_jwt (ES256, the public key of the run in
// CLIENT_JWKS), dpop_bound_access_tokens, client_credentials, scope api:read; features.dPoP and
// features.clientCredentials on; EdDSA JWT access tokens via resource indicators, as the shared
// peer's jwt mode (../../shared/peers/node-oidc-provider/server.mjs). Replay protection as it
// ships: assertion jti and DPoP jti through ReplayDetection in the default in-memory adapter.
// DPoP proof iat: oidc-provider 9 accepts |now - iat| <= 300 s (CHALLENGE_OK_WINDOW, not
// configurable) without a nonce; no nonce is required (requireNonce false, no nonceSecret).
import { readFileSync } from 'node:fs';
import Provider from 'oidc-provider';

const port = Number(process.env.PORT || 3102);
const jwtAlg = process.env.JWT_ALG || 'EdDSA';
const jwks = JSON.parse(readFileSync(process.env.JWKS || new URL('./jwks.json', import.meta.url), 'utf8'));
const clientJwks = JSON.parse(readFileSync(process.env.CLIENT_JWKS, 'utf8'));

const configuration = {
  clients: [{
    client_id: 'bench-strong',
    grant_types: ['client_credentials'],
    response_types: [],
    redirect_uris: [],
    token_endpoint_auth_method: 'private_key_jwt',
    token_endpoint_auth_signing_alg: 'ES256',
    jwks: clientJwks,
    dpop_bound_access_tokens: true,
    scope: 'api:read',
  }],
  jwks,
  cookies: { keys: ['bench-cookie-key-0123456789abcdef'] },
  scopes: ['openid', 'offline_access', 'api:read'],
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    dPoP: { enabled: true },
    introspection: { enabled: true, allowedPolicy: async () => true },
    resourceIndicators: {
      enabled: true,
      defaultResource: async () => 'urn:keycard:bench-api',
      useGrantedResource: async () => true,
      getResourceServerInfo: async () => ({
        scope: 'api:read',
        audience: 'urn:keycard:bench-api',
        accessTokenTTL: 3600,
        accessTokenFormat: 'jwt',
        jwt: { sign: { alg: jwtAlg } },
      }),
    },
  },
};

const provider = new Provider(`http://127.0.0.1:${port}`, configuration);
provider.on('server_error', (ctx, err) => { console.error('server_error', err); });
let refused = 0;
provider.on('grant.error', (ctx, err) => {
  // the first few refusals, so that a malformed benchmark request shows in the log
  if (refused++ < 5) console.error('grant.error', err.error, err.error_description);
});
provider.listen(port, '127.0.0.1', () => {
  console.log(`oidc-provider strong (private_key_jwt + DPoP, jwt/${jwtAlg}) listening on ${port} pid ${process.pid}`);
});
