// console_test.mjs: the web console in a real browser (issue 27, docs/console.md).
// Debian's Chromium, headless, driven over the DevTools protocol through
// --remote-debugging-pipe (no npm package needed). Run by test_api_e2e's `web` scenario,
// which starts PostgreSQL, Redis and decp-control's api and makes the world; everything
// this script needs comes in the environment:
//   DECP_URL (https://127.0.0.1:PORT), DECP_ADMIN (operator token), DECP_TOK_A (subscriber
//   A's token), DECP_SUB_A, DECP_SUB_B, DECP_SA (A's subscription), DECP_SB (B's),
//   DECP_LINK (the operator's one-time sign-in link, a path), DECP_CHROMIUM (the browser),
//   DECP_ARTIFACTS (directory for screenshots).
// Exit 0 when every check passed; each check prints one line.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import https from 'node:https';
import http from 'node:http';

const E = process.env;
const URL_ = E.DECP_URL;
let failed = 0;
const check = (ok, what) => {
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${what}`);
  if (!ok) failed++;
};

// ------------------------------------------------------------------ the API, directly
function apiGet(path, token) {
  return new Promise((resolve, reject) => {
    const u = new URL(path, URL_);
    const mod = u.protocol === 'https:' ? https : http;
    const req = mod.request(u, { method: 'GET', rejectUnauthorized: false,
                                 headers: { Authorization: `Bearer ${token}` } }, (res) => {
      let b = '';
      res.on('data', (d) => { b += d; });
      res.on('end', () => { try { resolve(JSON.parse(b)); } catch (e) { reject(e); } });
    });
    req.on('error', reject);
    req.end();
  });
}
function apiPost(path, token, body) {
  return new Promise((resolve, reject) => {
    const u = new URL(path, URL_);
    const mod = u.protocol === 'https:' ? https : http;
    const data = JSON.stringify(body ?? {});
    const req = mod.request(u, { method: 'POST', rejectUnauthorized: false,
                                 headers: { Authorization: `Bearer ${token}`,
                                            'Content-Type': 'application/json',
                                            'Content-Length': Buffer.byteLength(data) } },
                            (res) => {
      let b = '';
      res.on('data', (d) => { b += d; });
      res.on('end', () => resolve({ status: res.statusCode, body: b }));
    });
    req.on('error', reject);
    req.end(data);
  });
}

// A console session made through the API (as the sign-in form does): its cookie's value.
function signInApi(token) {
  return new Promise((resolve, reject) => {
    const u = new URL('/v1/console/session', URL_);
    const mod = u.protocol === 'https:' ? https : http;
    const data = JSON.stringify({ token });
    const req = mod.request(u, { method: 'POST', rejectUnauthorized: false,
                                 headers: { 'X-Decp-Console': '1', 'Content-Type': 'application/json',
                                            'Content-Length': Buffer.byteLength(data) } }, (res) => {
      res.resume();
      const c = /^[^=]+=([0-9a-f]{64});/.exec((res.headers['set-cookie'] || [''])[0]);
      res.on('end', () => resolve(c ? c[1] : ''));
    });
    req.on('error', reject);
    req.end(data);
  });
}

// ------------------------------------------------------------------ the browser
const profile = mkdtempSync(join(tmpdir(), 'decp-chromium-'));
const browser = spawn(E.DECP_CHROMIUM, [
  '--headless=new', '--no-sandbox', '--disable-gpu', '--remote-debugging-pipe',
  '--ignore-certificate-errors', '--no-first-run', '--no-default-browser-check',
  '--disable-extensions', '--disable-background-networking', `--user-data-dir=${profile}`,
  '--window-size=1280,900', 'about:blank'],
  // its own process group: Chromium's helpers (zygote, renderers) are stopped with it
  { stdio: ['ignore', 'ignore', 'pipe', 'pipe', 'pipe'], detached: true });
let browserLog = '';
browser.stderr.on('data', (d) => { browserLog += d; });
const toBrowser = browser.stdio[3], fromBrowser = browser.stdio[4];

let nextId = 1, inbuf = Buffer.alloc(0);
const pending = new Map();
const listeners = [];
fromBrowser.on('data', (chunk) => {
  inbuf = Buffer.concat([inbuf, chunk]);
  let z;
  while ((z = inbuf.indexOf(0)) >= 0) {
    const msg = JSON.parse(inbuf.subarray(0, z).toString());
    inbuf = inbuf.subarray(z + 1);
    if (msg.id && pending.has(msg.id)) {
      const { resolve, reject } = pending.get(msg.id);
      pending.delete(msg.id);
      if (msg.error) reject(new Error(`${msg.error.message} ${msg.error.data ?? ''}`));
      else resolve(msg.result);
    } else if (msg.method) {
      for (const l of listeners) l(msg);
    }
  }
});
function send(method, params = {}, sessionId) {
  const id = nextId++;
  const m = { id, method, params };
  if (sessionId) m.sessionId = sessionId;
  toBrowser.write(JSON.stringify(m) + '\0');
  return new Promise((resolve, reject) => {
    pending.set(id, { resolve, reject });
    setTimeout(() => {
      if (pending.delete(id)) reject(new Error(`${method}: no answer in 30 s`));
    }, 30000);
  });
}

// A tab of its own browser context (cookies are per context: operator and subscriber
// never share a session). Collects everything the page logs.
async function openTab(name) {
  const { browserContextId } = await send('Target.createBrowserContext');
  const { targetId } = await send('Target.createTarget', { url: 'about:blank', browserContextId });
  const { sessionId } = await send('Target.attachToTarget', { targetId, flatten: true });
  const tab = { name, sessionId, errors: [], network: [], dialogs: 0, dialogText: [],
                accept: true };
  listeners.push((m) => {
    if (m.sessionId !== sessionId) return;
    if (m.method === 'Runtime.exceptionThrown') {
      tab.errors.push(`exception: ${m.params.exceptionDetails.exception?.description ??
                       m.params.exceptionDetails.text}`);
    } else if (m.method === 'Runtime.consoleAPICalled' &&
               (m.params.type === 'error' || m.params.type === 'warning')) {
      tab.errors.push(`console.${m.params.type}: ${m.params.args.map((a) => a.value ?? a.description).join(' ')}`);
    } else if (m.method === 'Log.entryAdded' &&
               (m.params.entry.level === 'error' || m.params.entry.level === 'warning')) {
      // network: a failed request (the test's own probes of forbidden data are expected)
      (m.params.entry.source === 'network' ? tab.network : tab.errors)
        .push(`${m.params.entry.source}: ${m.params.entry.text} ${m.params.entry.url ?? ''}`);
    } else if (m.method === 'Page.javascriptDialogOpening') {
      tab.dialogs++;
      tab.dialogText.push(m.params.message);
      send('Page.handleJavaScriptDialog', { accept: tab.accept }, sessionId).catch(() => {});
    }
  });
  await send('Page.enable', {}, sessionId);
  await send('Runtime.enable', {}, sessionId);
  await send('Log.enable', {}, sessionId);
  return tab;
}
async function evaluate(tab, expr) {
  const r = await send('Runtime.evaluate', { expression: expr, returnByValue: true,
                                             awaitPromise: true }, tab.sessionId);
  if (r.exceptionDetails) throw new Error(`${expr}: ${r.exceptionDetails.text}`);
  return r.result.value;
}
// Wait (bounded) until expr is truthy in the page; returns its value.
async function waitFor(tab, expr, what, ms = 15000) {
  const t0 = Date.now();
  for (;;) {
    let v;
    try { v = await evaluate(tab, expr); } catch (_) { v = undefined; }
    if (v) return v;
    if (Date.now() - t0 > ms) throw new Error(`${tab.name}: waited ${ms} ms for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
async function shot(tab, file) {
  const { data } = await send('Page.captureScreenshot', { format: 'png', captureBeyondViewport: true },
                              tab.sessionId);
  writeFileSync(join(E.DECP_ARTIFACTS, file), Buffer.from(data, 'base64'));
}
async function signIn(tab, token) {
  await send('Page.navigate', { url: `${URL_}/console/` }, tab.sessionId);
  await waitFor(tab, "document.getElementById('token')", 'the sign-in form');
  await evaluate(tab, `(() => { document.getElementById('token').value = ${JSON.stringify(token)};
    document.getElementById('signin').click(); return true; })()`);
}
const cell = (table, id, key) =>
  `(document.querySelector('[data-table=${table}] tr[data-id="${id}"] td[data-key=${key}]') || {}).textContent`;

async function main() {
  const admin = E.DECP_ADMIN, sa = E.DECP_SA, sb = E.DECP_SB;

  // ---------------------------------------------------------------- planted cookies
  // A page of the same host on another port (here plain HTTP) can write cookies for the
  // api's host (cookies are not per port) and plant a session of its own account, on a
  // longer Path so that it is sent first. Over HTTPS the api reads only
  // `__Host-decp_console`, which a browser takes only from a secure page, with Path=/ and no
  // Domain: the planted ones are ignored or refused, the console shows its sign-in form.
  // Before, the browser was signed in as the planter's account (subscriber A here). Left
  // (docs/security.md): a page Chromium deems secure on the same host name (loopback HTTP is)
  // can still set `__Host-decp_console; Path=/; Secure`.
  const planted = await signInApi(E.DECP_TOK_A);
  const evil = http.createServer((req, res) => {
    res.writeHead(200, { 'Content-Type': 'text/html' });
    res.end(`<!doctype html><title>x</title><script>
      for (const c of ['decp_console=V; Path=/v1', 'decp_console=V; Path=/; Secure',
                       '__Host-decp_console=V; Path=/v1; Secure', '__Host-decp_console=V; Path=/'])
        document.cookie = c.replace('V', '${planted}');
      document.title = 'planted';</script>`);
  });
  await new Promise((r) => evil.listen(0, '127.0.0.1', r));
  const pl = await openTab('planted');
  await send('Page.navigate', { url: `http://127.0.0.1:${evil.address().port}/` }, pl.sessionId);
  await waitFor(pl, "document.title === 'planted'", 'the planting page');
  evil.close();
  await send('Page.navigate', { url: `${URL_}/console/` }, pl.sessionId);
  await waitFor(pl, "['login', 'subscriber'].includes(document.body.dataset.view)", 'the console after the planting page');
  const plWho = await evaluate(pl, "fetch('/v1/console/me', { cache: 'no-store' }).then((r) => r.json()).then((j) => j.role)");
  check(planted.length === 64 && plWho === null &&
        await evaluate(pl, "document.body.dataset.view === 'login'"),
        `cookies planted by a page of the same host on another port are not a session (${plWho})`);

  // ---------------------------------------------------------------- a sign-in link
  // Opened in a browser that holds no session, a link is used only once the user confirms:
  // any site can send the browser to a link made for its own account (login CSRF), and
  // without the question it signed the user in as that account without a word. Declined,
  // the page stays signed out and the code unused (the next tab uses it).
  const no = await openTab('link-declined');
  no.accept = false;
  await send('Page.navigate', { url: `${URL_}${E.DECP_LINK}` }, no.sessionId);
  await waitFor(no, "['login', 'operator'].includes(document.body.dataset.view)", 'the page opened by a link');
  const noWho = await evaluate(no, "fetch('/v1/console/me', { cache: 'no-store' }).then((r) => r.json()).then((j) => j.role)");
  check(noWho === null && no.dialogs === 1 && /one-time sign-in link/.test(no.dialogText[0]) &&
        !(await evaluate(no, 'location.href')).includes('code='),
        `link: not used until confirmed; declined, signed out, no code in the address bar (${noWho}; dialogs: ${JSON.stringify(no.dialogText)})`);
  const ln = await openTab('link');
  await send('Page.navigate', { url: `${URL_}${E.DECP_LINK}` }, ln.sessionId);
  await waitFor(ln, "document.body.dataset.view === 'operator'", 'the operator page from the link');
  check(!(await evaluate(ln, 'location.href')).includes('code='),
        'link: signed in as the operator; the code is gone from the address bar');
  const ln2 = await openTab('link-again');
  await send('Page.navigate', { url: `${URL_}${E.DECP_LINK}` }, ln2.sessionId);
  const again = await waitFor(ln2, "(() => { const m = document.getElementById('msg'); return document.body.dataset.view === 'login' && !m.hidden && m.textContent; })()", 'the refusal of a used link');
  check(/used already/.test(again), `link: used a second time, refused with a message (${again})`);
  ln2.network = ln2.network.filter((t) => !t.includes('401'));
  // another's link opened where a session is held (a hostile page can navigate there with
  // a link made for itself): not traded, the session stays the operator's, a message says so
  const other = JSON.parse((await apiPost('/v1/console/link', E.DECP_TOK_A, {})).body).path;
  await send('Page.navigate', { url: 'about:blank' }, ln.sessionId); // a load, not a hashchange
  await send('Page.navigate', { url: `${URL_}${other}` }, ln.sessionId);
  const kept = await waitFor(ln, "(() => { const m = document.getElementById('msg'); return !m.hidden && /signed in already/.test(m.textContent) && m.textContent; })()", 'the refusal of a link over a session');
  const who = await evaluate(ln, "fetch('/v1/console/me', { cache: 'no-store' }).then((r) => r.json()).then((j) => j.role)");
  check(who === 'operator' && !(await evaluate(ln, 'location.href')).includes('code='),
        `link: another's link opened over the operator's session is not used (${kept}; still ${who})`);

  // ---------------------------------------------------------------- operator
  const op = await openTab('operator');
  await signIn(op, admin);
  await waitFor(op, "document.body.dataset.view === 'operator' && document.querySelector('[data-table=subscriptions] tbody tr[data-id]')", 'the operator overview');
  check(await evaluate(op, "document.getElementById('token') === null"), 'operator: signed in, the form is gone');
  check(await evaluate(op, "document.cookie === ''"), 'operator: the session cookie is not readable by scripts (HttpOnly)');
  const subs = (await apiGet('/v1/subscriptions?limit=100', admin)).subscriptions;
  let same = subs.length > 0;
  for (const s of subs) {
    for (const k of ['state', 'trust_score', 'master_id', 'subscriber_id']) {
      const shown = await evaluate(op, cell('subscriptions', s.id, k));
      if (shown !== String(s[k])) {
        same = false;
        console.log(`  subscription ${s.id} ${k}: shown ${shown}, API ${s[k]}`);
      }
    }
  }
  check(same, `operator: the ${subs.length} subscriptions' state, trust, master and subscriber are the API's`);
  const masters = (await apiGet('/v1/masters/activity', admin)).masters;
  check(await evaluate(op, "document.querySelectorAll('[data-table=masters] tbody tr[data-id]').length") === masters.length &&
        await evaluate(op, cell('masters', masters[0].id, 'last_sequence')) === String(masters[0].last_sequence ?? ''),
        `operator: ${masters.length} masters listed, master ${masters[0].id}'s last sequence ${masters[0].last_sequence} as the API says`);
  const open0 = (await apiGet('/v1/alerts?state=open', admin)).open;
  check(open0 >= 1 && await evaluate(op, "(document.querySelector('h2 a[href=\"#/alerts\"]') || {}).textContent") === `Open alerts (${open0})`,
        `operator: the overview counts the API's ${open0} open alert(s)`);
  // connected: the edges' live-session claims in Redis, as the API reports them
  let conn = masters.every((m) => 'connected' in m && 'edge' in m && 'connected_since' in m);
  for (const m of masters) {
    const want = m.connected === null ? 'unknown' : m.connected ? 'yes' : 'no';
    const shown = await evaluate(op, cell('masters', m.id, 'connected'));
    const edge = await evaluate(op, cell('masters', m.id, 'edge'));
    if (shown !== want || (m.connected && edge !== m.edge)) {
      conn = false;
      console.log(`  master ${m.id} connected: shown ${shown} (edge ${edge}), API ${m.connected} (${m.edge})`);
    }
  }
  check(conn, `operator: each master's connected state and edge are the API's (${masters.filter((m) => m.connected).length} connected)`);
  await shot(op, 'operator-overview.png');

  // a live update: a change made elsewhere (the API) shows up without a reload
  const sus = await apiPost(`/v1/subscriptions/${sb}/suspend`, admin);
  check(sus.status === 200, `API: suspend subscription ${sb}: ${sus.status} ${sus.body}`);
  // within 5 s: the backstop timer is 15 s, so only the event stream can bring it in time
  await waitFor(op, "document.body.dataset.live === 'on'", 'the event stream');
  const t0 = Date.now();
  await waitFor(op, `${cell('subscriptions', sb, 'state')} === 'SUSPENDED_ADMIN'`, 'the suspension made through the API', 5000);
  check(true, `operator: a suspension made through the API appears without a reload, by the event stream, in ${Date.now() - t0} ms`);
  await apiPost(`/v1/subscriptions/${sb}/resume`, admin);
  await waitFor(op, `${cell('subscriptions', sb, 'state')} !== 'SUSPENDED_ADMIN'`, 'the resume made through the API');

  // suspend and resume from the console, with the confirmation accepted
  const before = op.dialogs;
  await evaluate(op, `document.querySelector('[data-table=subscriptions] tr[data-id="${sa}"] button[data-action=suspend]').click(), true`);
  await waitFor(op, `${cell('subscriptions', sa, 'state')} === 'SUSPENDED_ADMIN'`, 'the console suspension');
  check(op.dialogs === before + 1 && (await apiGet(`/v1/subscriptions/${sa}`, admin)).state === 'SUSPENDED_ADMIN',
        'operator: Suspend asks for confirmation and the API shows SUSPENDED_ADMIN');
  await shot(op, 'operator-suspended.png');
  await evaluate(op, `document.querySelector('[data-table=subscriptions] tr[data-id="${sa}"] button[data-action=resume]').click(), true`);
  await waitFor(op, `${cell('subscriptions', sa, 'state')} !== 'SUSPENDED_ADMIN'`, 'the console resume');
  check((await apiGet(`/v1/subscriptions/${sa}`, admin)).state !== 'SUSPENDED_ADMIN', 'operator: Resume, the API agrees');

  // a subscription's page: trust as the API says
  await evaluate(op, `location.hash = '#/subscription/${sa}', true`);
  await waitFor(op, "document.body.dataset.view === 'subscription'", 'the subscription page');
  const trust = await apiGet(`/v1/subscriptions/${sa}/trust`, admin);
  const shownScore = await waitFor(op, "(document.querySelector('[data-table=subscription] dd[data-key=trust_score]') || {}).textContent", 'the trust score');
  check(shownScore === String(trust.trust_score) &&
        await evaluate(op, "document.querySelectorAll('[data-table=events] tbody tr[data-id]').length") === trust.recent_events.length,
        `operator: subscription ${sa} trust ${shownScore} (API ${trust.trust_score}), ${trust.recent_events.length} recent events`);
  const hist = trust.history || [];
  const points = await evaluate(op, "(document.querySelector('svg[data-points]') || {dataset: {}}).dataset.points");
  check(hist.length >= 1 && hist[hist.length - 1].score === trust.trust_score && points === String(hist.length),
        `operator: the trust history chart has the API's ${hist.length} change(s), the last one ${hist.length ? hist[hist.length - 1].score : '-'}`);
  // positions: A holds the master's #1001 (as #5001), misses #1002, still holds #5003
  // whose master position #1003 was closed
  const status = async (id) => evaluate(op, cell('positions', id, 'status'));
  const pos = [await status('m1001'), await status('m1002'), await status('s5003')];
  check(pos[0] === 'held' && pos[1] === 'missing' && pos[2] === 'extra' &&
        await evaluate(op, cell('positions', 'm1001', 'ticket')) === '5001',
        `operator: positions beside the master's: #1001 ${pos[0]} (as #5001), #1002 ${pos[1]}, #5003 ${pos[2]}`);
  await shot(op, 'operator-subscription.png');

  // a forged cross-site POST: the session cookie alone does not change anything
  const csrf = await evaluate(op, `fetch('/v1/subscriptions/${sa}/suspend', {method: 'POST', credentials: 'same-origin'}).then((r) => r.status)`);
  check(csrf === 403 && (await apiGet(`/v1/subscriptions/${sa}`, admin)).state !== 'SUSPENDED_ADMIN',
        `operator: a POST with the cookie but without X-Decp-Console is refused (${csrf})`);
  op.network = op.network.filter((t) => !t.includes('403')); // that 403 was ours

  // the page's own security headers
  const hdr = await evaluate(op, "fetch('/console/').then((r) => r.headers.get('content-security-policy'))");
  check(typeof hdr === 'string' && !hdr.includes('unsafe-inline') && hdr.includes("script-src 'self'"),
        `operator: CSP without unsafe-inline (${hdr})`);

  // the protection-event feed, filtered: the rows are the API's, in its order
  await evaluate(op, "location.hash = '#/events', true");
  await waitFor(op, "document.body.dataset.view === 'events' && document.getElementById('f-reason')", 'the events page');
  await evaluate(op, `(() => { document.getElementById('f-reason').value = 'TTL_EXPIRED';
    document.getElementById('f-apply').click(); return true; })()`);
  const ttl = (await apiGet('/v1/protection-events?reason=TTL_EXPIRED&limit=100', admin)).events.map((e) => String(e.id)).join(',');
  const shownTtl = await waitFor(op, `(() => { const r = [...document.querySelectorAll('[data-table=feed] tbody tr[data-id]')];
    return r.length && r.every((x) => x.querySelector('td[data-key=reason]').textContent === 'TTL_EXPIRED') && r.map((x) => x.dataset.id).join(','); })()`, 'the filtered feed');
  check(ttl !== '' && shownTtl === ttl, `operator: the feed filtered by TTL_EXPIRED shows the API's events (${shownTtl})`);
  await shot(op, 'operator-events.png');

  // the alert feed: the trust role's alert (A reported an instrument the registry lacks)
  await evaluate(op, "location.hash = '#/alerts', true");
  await waitFor(op, "document.body.dataset.view === 'alerts' && document.querySelector('[data-table=alerts]')", 'the alerts page');
  const al = await apiGet('/v1/alerts?state=open&limit=100', admin);
  const rowsShown = () => evaluate(op, "[...document.querySelectorAll('[data-table=alerts] tbody tr[data-id]')].map((r) => r.dataset.id).join(',')");
  const a0 = al.alerts[0];
  check(al.alerts.length >= 1 && await rowsShown() === al.alerts.map((a) => String(a.id)).join(',') &&
        await evaluate(op, cell('alerts', a0.id, 'kind')) === a0.kind &&
        await evaluate(op, cell('alerts', a0.id, 'count')) === String(a0.count) &&
        await evaluate(op, cell('alerts', a0.id, 'message')) === a0.message,
        `operator: the open alerts are the API's (${al.alerts.map((a) => `${a.id} ${a.kind}`).join(', ')})`);
  await shot(op, 'operator-alerts.png');
  const ad = op.dialogs;
  await evaluate(op, `document.querySelector('[data-table=alerts] tr[data-id="${a0.id}"] button[data-action=acknowledge]').click(), true`);
  await waitFor(op, `!document.querySelector('[data-table=alerts] tr[data-id="${a0.id}"]')`, 'the acknowledgement');
  const acked = (await apiGet('/v1/alerts?state=acknowledged&limit=100', admin)).alerts.find((a) => a.id === a0.id);
  check(op.dialogs === ad + 1 && acked && acked.acknowledged_by === 'operator (console)',
        `operator: Acknowledge (confirmed): the API has alert ${a0.id} acknowledged by ${acked && acked.acknowledged_by}`);
  // live: the next occurrence opens a new alert, shown without a reload
  await waitFor(op, "document.body.dataset.live === 'on'", 'the event stream');
  const t1 = Date.now();
  const pe = await apiPost('/v1/protection-events', E.DECP_TOK_A,
    { events: [{ subscription_id: Number(sa), reason: 'UNKNOWN_INSTRUMENT', symbol: 'XAGUSD' }] });
  check(pe.status === 202, `API: subscriber A reports UNKNOWN_INSTRUMENT again: ${pe.status}`);
  await waitFor(op, `(() => { const r = document.querySelector('[data-table=alerts] tbody tr[data-id]');
    return r && r.dataset.id !== '${a0.id}' && r.querySelector('td[data-key=kind]').textContent === 'unknown_instrument'; })()`,
    'the new alert', 10000);
  const al2 = await apiGet('/v1/alerts?state=open&kind=unknown_instrument', admin);
  check(al2.alerts.length === 1 && await rowsShown() === String(al2.alerts[0].id) && al2.alerts[0].id !== a0.id,
        `operator: a new occurrence after the acknowledgement opens alert ${al2.alerts[0] && al2.alerts[0].id}, shown live in ${Date.now() - t1} ms`);

  // the roles and the edge, as /metrics says
  await evaluate(op, "location.hash = '#/system', true");
  await waitFor(op, "document.body.dataset.view === 'system'", 'the system page');
  const pgShown = await evaluate(op, cell('system', 'postgresql', 'value'));
  const dpShown = await evaluate(op, cell('system', 'dataplane', 'value'));
  check(pgShown === 'up' && dpShown === 'down',
        `operator: system page: PostgreSQL ${pgShown}, dataplane ${dpShown} (none runs in this test)`);
  await shot(op, 'operator-system.png');

  // a subscriber's tokens: revoke B's from the console, the API agrees
  await evaluate(op, `location.hash = '#/subscriber/${E.DECP_SUB_B}', true`);
  await waitFor(op, "document.body.dataset.view === 'subscriber-admin' && document.querySelector('[data-table=tokens] button[data-action=revoke]')", 'subscriber B\'s tokens');
  const dl = op.dialogs;
  await evaluate(op, "document.querySelector('[data-table=tokens] button[data-action=revoke]').click(), true");
  await waitFor(op, "!document.querySelector('[data-table=tokens] button[data-action=revoke]')", 'the revocation');
  const toks = (await apiGet(`/v1/subscribers/${E.DECP_SUB_B}/tokens`, admin)).tokens;
  check(op.dialogs === dl + 1 && toks.length > 0 && toks.every((t) => t.revoked_at),
        'operator: Revoke (confirmed) revokes subscriber B\'s token, the API agrees');
  await shot(op, 'operator-subscriber.png');

  // ---------------------------------------------------------------- subscriber A
  const sub = await openTab('subscriber');
  await signIn(sub, E.DECP_TOK_A);
  await waitFor(sub, "document.body.dataset.view === 'subscriber' && document.querySelector('[data-table=subscriptions] tbody tr[data-id]')", 'the subscriber page');
  const mine = (await apiGet('/v1/subscriptions?limit=100', E.DECP_TOK_A)).subscriptions;
  const subAlerts = await apiPost('/v1/alerts/1/acknowledge', E.DECP_TOK_A);
  check(await evaluate(sub, "document.querySelector('nav a[href=\"#/alerts\"]') === null") && subAlerts.status === 403,
        `subscriber: no Alerts page, and the API refuses its acknowledge (${subAlerts.status})`);
  const ids = await evaluate(sub, "[...document.querySelectorAll('[data-table=subscriptions] tbody tr[data-id]')].map((r) => r.dataset.id).join(',')");
  check(ids === mine.map((s) => String(s.id)).join(',') && !ids.split(',').includes(String(sb)),
        `subscriber: sees its own subscriptions only (${ids}), not ${sb}`);
  const wallet = await apiGet(`/v1/subscribers/${E.DECP_SUB_A}/wallet`, E.DECP_TOK_A);
  check(await evaluate(sub, "(document.querySelector('[data-table=wallet] dd[data-key=balance_usd]') || {}).textContent") === String(wallet.balance_usd),
        `subscriber: wallet balance ${wallet.balance_usd} as the API says`);
  await shot(sub, 'subscriber-account.png');
  // its feed holds only its own subscription's events, as the API gives them
  await evaluate(sub, "location.hash = '#/events', true");
  const feedA = (await apiGet('/v1/protection-events?limit=100', E.DECP_TOK_A)).events;
  const shownA = await waitFor(sub, "document.body.dataset.view === 'events' && [...document.querySelectorAll('[data-table=feed] tbody tr[data-id]')].map((x) => x.querySelector('td[data-key=subscription_id]').textContent).join(',')", 'the subscriber feed');
  check(feedA.length > 0 && shownA === feedA.map((e) => String(e.subscription_id)).join(',') &&
        shownA.split(',').every((x) => x === String(sa)),
        `subscriber: its feed shows only subscription ${sa}'s ${feedA.length} events`);
  // its copy policy, edited in the page: the API has the new version
  await evaluate(sub, `location.hash = '#/subscription/${sa}', true`);
  await waitFor(sub, "document.body.dataset.view === 'subscription' && document.getElementById('policy')", 'the policy editor');
  const v0 = (await apiGet(`/v1/subscriptions/${sa}`, E.DECP_TOK_A)).copy_policy_version;
  await evaluate(sub, `(() => { const t = document.getElementById('policy'); t.focus();
    t.value = '{"mode": "MULTIPLIER", "multiplier": 2}'; document.getElementById('policy-save').click(); return true; })()`);
  await waitFor(sub, "!document.getElementById('msg').hidden && /policy saved/.test(document.getElementById('msg').textContent)", 'the saved policy');
  const after = await apiGet(`/v1/subscriptions/${sa}`, E.DECP_TOK_A);
  check(after.copy_policy_version === v0 + 1 && after.copy_policy.multiplier === 2,
        `subscriber: policy edited in the page: version ${v0} -> ${after.copy_policy_version}, multiplier ${after.copy_policy.multiplier}`);
  await shot(sub, 'subscriber-policy.png');
  // a policy the API refuses: its message is shown, nothing changes
  await evaluate(sub, `(() => { const t = document.getElementById('policy'); t.focus();
    t.value = '{"mode": "MULTIPLIER", "multiplier": -5}'; document.getElementById('policy-save').click(); return true; })()`);
  const bad = await waitFor(sub, "(() => { const m = document.getElementById('msg'); return m.className === 'error' && m.textContent; })()", 'the refusal of a bad policy');
  check((await apiGet(`/v1/subscriptions/${sa}`, E.DECP_TOK_A)).copy_policy_version === v0 + 1,
        `subscriber: a bad policy is refused with a message (${bad}), the version is unchanged`);
  sub.network = sub.network.filter((t) => !t.includes('422'));
  await evaluate(sub, "document.querySelector('.policy button:last-child').click(), true");

  // another subscriber's subscription: an error message, none of its data
  await evaluate(sub, `location.hash = '#/subscription/${sb}', true`);
  const msg = await waitFor(sub, "(() => { const m = document.getElementById('msg'); return !m.hidden && m.textContent; })()", 'the refusal message');
  check(/forbidden|not your/i.test(msg) && await evaluate(sub, "document.querySelector('[data-table=subscription]') === null"),
        `subscriber: another subscriber's subscription ${sb} is refused with a message (${msg})`);
  await shot(sub, 'subscriber-forbidden.png');
  sub.network = sub.network.filter((t) => !t.includes('403'));

  // the phone-sized screen: the subscriber's page still renders, tables scroll
  await send('Emulation.setDeviceMetricsOverride', { width: 390, height: 844, deviceScaleFactor: 2, mobile: true }, sub.sessionId);
  await evaluate(sub, "location.hash = '#/', true");
  await waitFor(sub, "document.body.dataset.view === 'subscriber' && document.querySelector('[data-table=subscriptions] tbody tr[data-id]')", 'the subscriber page on a phone');
  check(await evaluate(sub, 'document.documentElement.scrollWidth <= 390 + 1'), 'subscriber: no page-wide horizontal scroll at 390 px');
  await shot(sub, 'subscriber-phone.png');

  // sign-out ends the session on the server: the same cookie is refused afterwards
  await evaluate(sub, "document.getElementById('logout').click(), true");
  await waitFor(sub, "document.body.dataset.view === 'login'", 'the sign-in form after sign-out');
  const me = await evaluate(sub, "fetch('/v1/console/me').then((r) => r.json()).then((j) => j.role)");
  check(me === null, `subscriber: signed out, /v1/console/me says ${me}`);

  for (const t of [ln, ln2, op, sub]) {
    check(t.errors.length === 0, `${t.name}: no errors in the browser log${t.errors.length ? ': ' + t.errors.join(' | ') : ''}`);
    check(t.network.length === 0, `${t.name}: no unexpected failed requests${t.network.length ? ': ' + t.network.join(' | ') : ''}`);
  }
}

const deadline = setTimeout(() => { console.log('FAIL the browser test took over 150 s'); process.exit(1); }, 150000);
main().then(() => 0, (e) => {
  console.log(`FAIL ${e.message}`);
  // Chromium's own complaints, without its D-Bus noise (no session bus on a server)
  const own = browserLog.split('\n').filter((l) => l && !/dbus|DBus/.test(l));
  if (own.length) console.log(own.slice(-30).join('\n'));
  return 1;
})
  .then(async (rc) => {
    clearTimeout(deadline);
    try { await send('Browser.close'); } catch (_) { /* gone */ }
    // Browser.close ends it (and its helpers) cleanly; whatever is left of the group after
    // 5 s is killed; the profile is removed once nothing writes into it any more
    const exited = new Promise((r) => { if (browser.exitCode !== null || browser.signalCode) r(); else browser.on('exit', r); });
    await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
    try { process.kill(-browser.pid, 'SIGKILL'); } catch (_) { /* the group is gone */ }
    await exited;
    for (let i = 0; ; i++) {
      try {
        rmSync(profile, { recursive: true, force: true });
        break;
      } catch (e) {
        if (i === 50) { console.log(`note: profile ${profile} not removed: ${e.message}`); break; }
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    process.exit(rc || (failed ? 1 : 0));
  });
