// A real OpenID Connect provider on loopback for vakt's tests: panva's
// oidc-provider (OpenID Certified), with its development login pages
// (any password; the account's claims below).
//
// usage: node oidc_provider.mjs PORT REDIRECT_URI CLIENT_SECRET
// (run with NODE_PATH pointing at the node_modules it was installed in)
import { createRequire } from 'node:module';
const require = createRequire(process.env.NODE_PATH + '/');
const Provider = require('oidc-provider').default ?? require('oidc-provider');

const [port, redirect, secret] = process.argv.slice(2);
const accounts = {
  kari: { groups: ['staff', 'vakt-privacy'], tenant: 'ous' },
  cert1: { groups: ['vakt-cert'] },
  ola: { groups: ['staff'], tenant: 'ous' },
};
const provider = new Provider(`http://127.0.0.1:${port}`, {
  clients: [{
    client_id: 'vakt',
    client_secret: secret,
    redirect_uris: [redirect],
    grant_types: ['authorization_code'],
    response_types: ['code'],
    token_endpoint_auth_method: 'client_secret_basic',
  }],
  claims: { openid: ['sub'], profile: ['preferred_username', 'groups', 'tenant'] },
  conformIdTokenClaims: false,
  findAccount: async (ctx, id) => ({
    accountId: id,
    claims: async () => ({ sub: id, preferred_username: id, ...(accounts[id] ?? { groups: [] }) }),
  }),
  features: { devInteractions: { enabled: true } },
  cookies: { keys: ['vakt-test-only-cookie-key'] },
});
provider.proxy = false;
provider.listen(Number(port), '127.0.0.1', () => console.log(`listening ${port}`));
