// Cross-checks the fake Bot Framework's auth side (tests/support/fake_bot_framework_auth.h) with
// Microsoft's own botframework-connector (pulled in by botbuilder):
//  1. JwtTokenValidation.authenticateRequest, pointed at the fake's OpenID metadata, accepts the
//     fake's valid channel token for a msteams activity, and rejects every forged one;
//  2. its credentials client (MsalAppCredentials on @azure/msal-node) gets a token from the fake's
//     Entra token endpoint (over TLS: MSAL only talks https), and reports the fake's Entra error
//     for a wrong secret.
// Input (environment): OPENID_URL, APP_ID, APP_PASSWORD, SERVICE_URL, VALID_TOKEN,
// FORGED_TOKENS (JSON object name -> token), LOGIN_URL (https base), TENANT. Prints one line per
// check and RESULT ok=true|false last; exits 0 only when every check held.
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const connector = require('botframework-connector');
const msal = require('@azure/msal-node');

const env = process.env;
let ok = true;
const fail = (line) => {
  ok = false;
  console.log(`FAIL ${line}`);
};

connector.ChannelValidation.OpenIdMetadataEndpoint = env.OPENID_URL;
const credentials = new connector.SimpleCredentialProvider(env.APP_ID, env.APP_PASSWORD);
const activity = (serviceUrl) => ({
  type: 'message',
  id: '1700000000000',
  channelId: 'msteams',
  serviceUrl,
  text: 'ping',
  conversation: { id: '19:abc@thread.tacv2' },
});

try {
  const identity = await connector.JwtTokenValidation.authenticateRequest(
    activity(env.SERVICE_URL), `Bearer ${env.VALID_TOKEN}`, credentials, '');
  const aud = identity.getClaimValue('aud');
  const serviceUrl = identity.getClaimValue('serviceurl');
  if (identity.isAuthenticated && aud === env.APP_ID && serviceUrl === env.SERVICE_URL) {
    console.log(`VALIDATED aud=${aud} serviceurl=${serviceUrl}`);
  } else {
    fail(`validated identity has aud=${aud} serviceurl=${serviceUrl}`);
  }
} catch (error) {
  fail(`valid token rejected: ${error.message}`);
}

const forged = JSON.parse(env.FORGED_TOKENS || '{}');
for (const [name, token] of Object.entries(forged)) {
  try {
    const serviceUrl = name === 'serviceurl mismatch' ? 'https://other.example/teams/' : env.SERVICE_URL;
    await connector.JwtTokenValidation.authenticateRequest(activity(serviceUrl), `Bearer ${token}`,
                                                           credentials, '');
    fail(`forged token accepted: ${name}`);
  } catch (error) {
    console.log(`REJECTED ${name}: ${String(error.message).split('\n')[0]}`);
  }
}

const authorityHost = new URL(env.LOGIN_URL).host;
const makeCredentials = (password) => {
  const app = new msal.ConfidentialClientApplication({
    auth: {
      clientId: env.APP_ID,
      clientSecret: password,
      authority: `${env.LOGIN_URL}/${env.TENANT}`,
      knownAuthorities: [authorityHost],
    },
  });
  return new connector.MsalAppCredentials(app, env.APP_ID, undefined,
                                          'https://api.botframework.com');
};

try {
  const token = await makeCredentials(env.APP_PASSWORD).getToken(true);
  if (typeof token === 'string' && token.split('.').length === 3) {
    console.log(`TOKEN ${token.slice(0, 16)}...`);
  } else {
    fail(`credentials client returned ${typeof token}`);
  }
} catch (error) {
  fail(`credentials client failed: ${error.message}`);
}

try {
  await makeCredentials('wrong-password-1234').getToken(true);
  fail('credentials client accepted a wrong secret');
} catch (error) {
  const message = String(error.errorMessage || error.message);
  if (message.includes('AADSTS7000215')) {
    console.log('WRONG_SECRET AADSTS7000215');
  } else {
    fail(`wrong secret gave: ${message}`);
  }
}

console.log(`RESULT ok=${ok}`);
process.exit(ok ? 0 : 1);
