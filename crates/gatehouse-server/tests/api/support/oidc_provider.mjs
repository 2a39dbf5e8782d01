// A real OpenID provider for the tests: npm `oidc-provider` (installed by .ci/run into
// target/tools/oidc) on a loopback port, with its development login and consent pages, one
// confidential client for gatehouse, PKCE required, and scope claims in the ID token (as the
// big providers put `email` there). Usage:
//   node oidc_provider.mjs PORT CLIENT_ID CLIENT_SECRET REDIRECT_URI
// Prints "listening PORT" when ready. Any login name signs in as that subject, with the
// address <name>@example.com, verified.
import { createRequire } from "node:module";
import path from "node:path";

const [port, clientId, clientSecret, redirectUri, toolDir] = process.argv.slice(2);
const require = createRequire(path.join(toolDir, "package.json"));
const { default: Provider } = await import(require.resolve("oidc-provider"));

const configuration = {
  clients: [
    {
      client_id: clientId,
      client_secret: clientSecret,
      redirect_uris: [redirectUri],
      grant_types: ["authorization_code"],
      response_types: ["code"],
      token_endpoint_auth_method: "client_secret_basic",
    },
  ],
  pkce: { required: () => true },
  conformIdTokenClaims: false,
  claims: { openid: ["sub"], email: ["email", "email_verified"], profile: ["name"] },
  features: { devInteractions: { enabled: true } },
  cookies: { keys: ["test cookie key, not a secret"] },
  async findAccount(ctx, sub) {
    return {
      accountId: sub,
      async claims() {
        return { sub, email: `${sub}@example.com`, email_verified: true, name: sub };
      },
    };
  },
};

const provider = new Provider(`http://127.0.0.1:${port}`, configuration);
provider.listen(Number(port), "127.0.0.1", () => {
  console.log(`listening ${port}`);
});
