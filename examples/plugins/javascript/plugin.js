// A docker-credential-wasm plugin in JavaScript: the user name from the operator's settings,
// the token from the registry's token endpoint (the `token_url` setting), fetched with
// `fetch`, which the runtime sends through the host's `wasi:http` with the plugin's network
// grant.
//
// Build: `componentize-js plugin.js -w ../../../wit -n plugin -o javascript-plugin.wasm`
// (see ../build).

import { get as setting } from 'docker-credential-wasm:plugin/settings@0.1.2';
import { log } from 'docker-credential-wasm:plugin/log@0.1.2';

// Fails the action with one of the world's `error` cases (`not-found`, `upstream`, ...).
function fail(tag, message) {
  const error = new Error(message);
  error.payload = { tag, val: message };
  throw error;
}

export const helper = {
  async get(registry) {
    const username = setting('username');
    const tokenUrl = setting('token_url');
    if (!username || !tokenUrl) fail('invalid-input', 'the settings `username` and `token_url` are required');
    log('info', `${registry}: asking ${tokenUrl} for ${username}'s token`);
    let response;
    try {
      response = await fetch(tokenUrl, { headers: { accept: 'application/json' } });
    } catch (e) {
      fail('upstream', `${tokenUrl}: the request failed: ${e.message}`);
    }
    if (response.status === 404) fail('not-found', `${tokenUrl} has no token for ${username}`);
    if (!response.ok) fail('upstream', `${tokenUrl} answered HTTP ${response.status}`);
    const answer = await response.json();
    const expiresAt = answer.expires_at === undefined ? undefined : BigInt(answer.expires_at);
    return { username, secret: answer.token, expiresAt };
  },
  save(registry, credentials) {
    fail('unsupported', 'store');
  },
  erase(registry) {
    fail('unsupported', 'erase');
  },
  list(routed) {
    fail('unsupported', 'list');
  },
};
