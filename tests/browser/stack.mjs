// Starts what the browser tests drive: the Kommo emulator (serving the Kommo-like host page with the
// unpacked widget.zip, its account `acme` seeded from seed.json: users, pipelines, custom fields, task
// types, Salesbots, leads and contacts) and the Rulebook backend on a fresh SQLite file, each on a free
// loopback port. The backend is connected to the emulator's account with a long-lived token, as an admin
// would connect it, so the builder reads the account's schema and rules act on the emulator's entities.
import { spawn, spawnSync } from 'node:child_process';
import { createHmac, randomUUID } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import readline from 'node:readline';

export const CLIENT_ID = '6a1c3f9e-2b7d-4e58-9c10-5f2e8d4b7a31';
export const CLIENT_SECRET = 'browser-test-secret-0123456789abcdef';
export const SUBDOMAIN = 'acme';
export const ACCOUNT_ID = 31000042;
export const ADMIN_USER_ID = 1001;
const SEED = path.join(path.dirname(fileURLToPath(import.meta.url)), 'seed.json');

function required(name) {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: run the browser tests through \`cargo xtask test\``);
  return value;
}

async function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

// Spawns a server and resolves once it prints `listening on <url>`.
function startServer(name, bin, args, env) {
  return new Promise((resolve, reject) => {
    const child = spawn(bin, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d) => {
      stderr = (stderr + d).slice(-4000);
    });
    child.on('exit', (code) => reject(new Error(`${name} exited (${code}) before listening:\n${stderr}`)));
    readline.createInterface({ input: child.stdout }).on('line', (line) => {
      const m = /listening on (http:\/\/\S+)/.exec(line);
      if (m) resolve({ url: m[1].replace(/\/$/, ''), child });
    });
  });
}

export async function startStack() {
  const backendPort = await freePort();
  const backendUrl = `http://127.0.0.1:${backendPort}`;
  const dir = mkdtempSync(path.join(os.tmpdir(), 'rulebook-browser-'));
  const emulator = await startServer('kommo-emulator', required('EMULATOR_BIN'), [
    'serve', '--bind', '127.0.0.1:0',
    '--seed', SEED,
    '--widget-dir', required('WIDGET_DIR'),
    '--node-modules', required('NODE_MODULES'),
  ], {});
  const backendEnv = {
    RULEBOOK_BIND: `127.0.0.1:${backendPort}`,
    RULEBOOK_PUBLIC_URL: backendUrl,
    DATABASE_URL: `sqlite://${path.join(dir, 'rulebook.db')}?mode=rwc`,
    RULEBOOK_KOMMO_CLIENT_ID: CLIENT_ID,
    RULEBOOK_KOMMO_CLIENT_SECRET: CLIENT_SECRET,
    RULEBOOK_CORS_EXTRA_ORIGINS: `["${emulator.url}"]`,
  };
  // Connect the account before serving, as `cargo xtask sandbox` does.
  const minted = await fetch(`${emulator.url}/_control/accounts/${SUBDOMAIN}/long_lived_tokens`, {
    method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{}',
  });
  const token = (await minted.json()).access_token;
  if (!token) throw new Error('the emulator minted no long-lived token');
  const connect = spawnSync(required('RULEBOOK_BIN'), [
    'account', 'connect', '--account-id', String(ACCOUNT_ID), '--subdomain', SUBDOMAIN,
    '--kommo-base-url', `${emulator.url}/${SUBDOMAIN}`,
  ], { env: { ...process.env, ...backendEnv, KOMMO_LONG_LIVED_TOKEN: token }, encoding: 'utf8' });
  if (connect.status !== 0) {
    emulator.child.kill('SIGTERM');
    throw new Error(`connecting the account failed: ${connect.stderr}`);
  }
  const backend = await startServer('rulebook', required('RULEBOOK_BIN'), ['serve'], backendEnv);
  const kommoBase = `${emulator.url}/${SUBDOMAIN}`;
  return {
    hostUrl: emulator.url,
    backendUrl,
    // Kommo's REST API of the seeded account, as an integration calls it (writes send webhooks).
    // The account's 7 requests per second are shared with the backend, so a 429 is waited out as
    // Kommo asks an integration to (a second, at most five times), never ignored.
    async kommo(method, apiPath, body) {
      let r;
      for (let attempt = 0; ; attempt++) {
        r = await fetch(`${kommoBase}${apiPath}`, {
          method,
          headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
          body: body === undefined ? undefined : JSON.stringify(body),
        });
        if (r.status !== 429 || attempt >= 5) break;
        await r.arrayBuffer();
        await new Promise((done) => setTimeout(done, 1000));
      }
      const text = await r.text();
      if (!r.ok) throw new Error(`${method} ${apiPath}: ${r.status} ${text}`);
      return text ? JSON.parse(text) : null;
    },
    // The emulator's control API (`/_control/...`): request logs, faults, the clock.
    async control(method, controlPath, body) {
      const r = await fetch(`${emulator.url}/_control${controlPath}`, {
        method,
        headers: { 'Content-Type': 'application/json' },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      const text = await r.text();
      if (!r.ok) throw new Error(`${method} /_control${controlPath}: ${r.status} ${text}`);
      return text ? JSON.parse(text) : null;
    },
    // Rulebook's API as the widget calls it: a disposable token minted as Kommo mints it (HS256 with
    // the integration's secret) for the admin user, used once. For arranging and reading back state
    // around what a test does through the UI.
    async api(method, apiPath, body) {
      const now = Math.floor(Date.now() / 1000);
      const b64 = (v) => Buffer.from(JSON.stringify(v)).toString('base64url');
      const input = `${b64({ alg: 'HS256', typ: 'JWT' })}.${b64({
        iss: `https://${SUBDOMAIN}.kommo.com`, aud: backendUrl, jti: randomUUID(), iat: now, nbf: now,
        exp: now + 1800, account_id: ACCOUNT_ID, subdomain: SUBDOMAIN, client_uuid: CLIENT_ID,
        user_id: ADMIN_USER_ID, is_admin: true,
      })}`;
      const token = `${input}.${createHmac('sha256', CLIENT_SECRET).update(input).digest('base64url')}`;
      const r = await fetch(`${backendUrl}${apiPath}`, {
        method,
        headers: { 'X-Auth-Token': token, 'Content-Type': 'application/json' },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      const text = await r.text();
      if (!r.ok) throw new Error(`${method} ${apiPath}: ${r.status} ${text}`);
      return text ? JSON.parse(text) : null;
    },
    // The host page URL for a location, pretending to be `acme` with our integration's identity.
    page(location, overrides = {}) {
      const q = new URLSearchParams({
        page: location,
        subdomain: SUBDOMAIN,
        account_id: String(ACCOUNT_ID),
        client_uuid: CLIENT_ID,
        client_secret: CLIENT_SECRET,
        audience: backendUrl,
        backend_url: backendUrl,
        ...overrides,
      });
      return `${emulator.url}/?${q}`;
    },
    stop() {
      for (const p of [emulator.child, backend.child]) p.kill('SIGTERM');
    },
  };
}
