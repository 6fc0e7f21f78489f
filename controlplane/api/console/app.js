// decp console (docs/console.md): the operator's and the subscriber's view of the JSON API.
// Plain JavaScript, no build step. Every value from the API is put in the page as text
// (textContent / SVG attributes), never as HTML. The session is an HttpOnly cookie: this
// script never holds a token after the sign-in form has sent it.
'use strict';

(() => {
  const REFRESH_MS = 2000;
  const NS = 'http://www.w3.org/2000/svg';
  const S = { me: null, timer: null, seq: 0 };
  const $ = (id) => document.getElementById(id);

  // ---------------------------------------------------------------- small helpers
  function el(tag, attrs, ...kids) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null) continue;
      if (k === 'class') e.className = v;
      else if (k === 'onclick') e.addEventListener('click', v);
      else if (k.startsWith('data-') || k === 'href' || k === 'type' || k === 'id' ||
               k === 'autocomplete' || k === 'for' || k === 'name') e.setAttribute(k, v);
      else e[k] = v;
    }
    for (const k of kids) e.append(k instanceof Node ? k : document.createTextNode(k ?? ''));
    return e;
  }
  function svg(tag, attrs, ...kids) {
    const e = document.createElementNS(NS, tag);
    for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
    for (const k of kids) e.append(k instanceof Node ? k : document.createTextNode(k ?? ''));
    return e;
  }
  function message(kind, text) {
    const m = $('msg');
    m.textContent = text;
    m.className = kind;
    m.hidden = !text;
  }
  const showError = (e) => message('error', e.code ? `${e.message} (${e.code}, HTTP ${e.status})`
                                                   : String(e.message || e));

  // Every call of the API: same origin, the session cookie, and the header that a form on
  // another site cannot send (the api refuses a cookie-authenticated POST without it).
  async function api(method, path, body) {
    const opt = { method, credentials: 'same-origin', headers: { 'X-Decp-Console': '1' },
                  cache: 'no-store' };
    if (body !== undefined) {
      opt.headers['Content-Type'] = 'application/json';
      opt.body = JSON.stringify(body);
    }
    const res = await fetch(path, opt);
    let data = null;
    try { data = await res.json(); } catch (_) { data = null; }
    if (!res.ok) {
      const err = new Error((data && data.message) || res.statusText || 'request failed');
      err.status = res.status;
      err.code = data && data.code;
      throw err;
    }
    return data;
  }

  // A table of rows (objects) with columns [{key, label, num, fmt, cls}]; rows carry
  // data-id, cells data-key, so that what is shown can be read back exactly.
  function table(name, cols, rows, actions) {
    const head = el('tr', null, ...cols.map((c) => el('th', null, c.label)),
                    ...(actions ? [el('th', null, '')] : []));
    const body = rows.map((r) => el('tr', { 'data-id': String(r.id) },
      ...cols.map((c) => {
        const v = c.fmt ? c.fmt(r[c.key], r) : r[c.key];
        const td = el('td', { 'data-key': c.key, class: [c.num ? 'num' : '',
                      c.cls ? c.cls(r[c.key], r) : ''].join(' ').trim() || undefined },
                      v instanceof Node ? v : String(v ?? ''));
        return td;
      }),
      ...(actions ? [el('td', null, ...actions(r))] : [])));
    if (rows.length === 0) {
      body.push(el('tr', null, el('td', { class: 'muted', colSpan: cols.length + 1 },
                                   'none')));
    }
    return el('div', { class: 'scroll' },
              el('table', { 'data-table': name }, el('thead', null, head),
                 el('tbody', null, ...body)));
  }
  const link = (href, text) => el('a', { href }, String(text));
  const stateCls = (v) => `state-${v}`;

  // A score 0..100 as a bar (SVG: no inline style needed).
  function gauge(score) {
    const w = Math.max(0, Math.min(100, Number(score) || 0)) * 2.2;
    return svg('svg', { width: '220', height: '14', viewBox: '0 0 220 14', role: 'img',
                        'aria-label': `trust ${score} of 100` },
               svg('rect', { width: '220', height: '14', rx: '7', fill: '#d1d9e0' }),
               svg('rect', { width: String(w), height: '14', rx: '7',
                             fill: score >= 50 ? '#1a7f37' : '#cf222e' }));
  }

  // Recent protection events as dots: time across, latency up.
  function eventsChart(events) {
    const W = 720, H = 180, L = 44, B = 22;
    const c = svg('svg', { class: 'chart', viewBox: `0 0 ${W} ${H}`, role: 'img',
                           'aria-label': 'recent protection events' });
    c.append(svg('line', { class: 'axis', x1: L, y1: H - B, x2: W - 6, y2: H - B }),
             svg('line', { class: 'axis', x1: L, y1: 6, x2: L, y2: H - B }));
    const pts = events.map((e) => ({ t: Date.parse(e.event_time), y: Number(e.latency_ms) || 0,
                                     r: e.reason })).filter((p) => !Number.isNaN(p.t));
    if (pts.length === 0) {
      c.append(svg('text', { x: L + 10, y: H / 2 }, 'no protection events'));
      return c;
    }
    const t0 = Math.min(...pts.map((p) => p.t)), t1 = Math.max(...pts.map((p) => p.t));
    const ymax = Math.max(1, ...pts.map((p) => p.y));
    for (const p of pts) {
      const x = L + 8 + (t1 > t0 ? (p.t - t0) / (t1 - t0) : 0.5) * (W - L - 22);
      const y = H - B - 4 - (p.y / ymax) * (H - B - 16);
      c.append(svg('circle', { class: 'dot', cx: x.toFixed(1), cy: y.toFixed(1), r: '4' },
                   svg('title', null, `${p.r} ${p.y} ms`)));
    }
    c.append(svg('text', { x: 4, y: 14 }, `${ymax} ms`), svg('text', { x: 4, y: H - B }, '0'),
             svg('text', { x: L, y: H - 6 }, new Date(t0).toLocaleTimeString()),
             svg('text', { x: W - 80, y: H - 6 }, new Date(t1).toLocaleTimeString()));
    return c;
  }

  // ---------------------------------------------------------------- views
  async function viewLogin() {
    const input = el('input', { type: 'password', id: 'token', name: 'token',
                                autocomplete: 'current-password',
                                placeholder: 'operator or subscriber token' });
    const form = el('form', { class: 'login', id: 'login' },
                    el('label', { for: 'token' }, 'Token'), input,
                    el('button', { type: 'submit', id: 'signin' }, 'Sign in'),
                    el('p', { class: 'muted' },
                       'The token is sent once and exchanged for a session; it is not kept.'));
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      const token = input.value.trim();
      input.value = '';
      if (!token) { message('error', 'enter a token'); return; }
      try {
        S.me = await api('POST', '/v1/console/session', { token });
        message('', '');
        location.hash = '#/';
        route();
      } catch (e) { showError(e); }
    });
    return [el('h2', null, 'Sign in'), form];
  }

  const SUB_COLS = [
    { key: 'id', label: 'subscription', fmt: (v) => link(`#/subscription/${v}`, v) },
    { key: 'master_id', label: 'master', num: true },
    { key: 'subscriber_id', label: 'subscriber', num: true },
    { key: 'state', label: 'state', cls: stateCls },
    { key: 'trust_score', label: 'trust', num: true },
    { key: 'last_sequence_id', label: 'last sequence', num: true },
    { key: 'copy_policy_version', label: 'policy v', num: true },
  ];

  async function act(what, id) {
    if (!confirm(`${what} subscription ${id}?`)) return;
    try {
      await api('POST', `/v1/subscriptions/${id}/${what}`);
      message('info', `subscription ${id}: ${what} done`);
      await refresh();
    } catch (e) { showError(e); }
  }

  async function viewOperator() {
    const [m, s] = await Promise.all([api('GET', '/v1/masters?limit=100'),
                                      api('GET', '/v1/subscriptions?limit=100')]);
    return [
      el('h2', null, `Masters (${m.masters.length})`),
      table('masters', [{ key: 'id', label: 'id', num: true }, { key: 'name', label: 'name' },
                        { key: 'created_at', label: 'created' }], m.masters),
      el('h2', null, `Subscriptions (${s.subscriptions.length})`),
      table('subscriptions', SUB_COLS, s.subscriptions, (r) => [
        r.state.startsWith('SUSPENDED')
          ? el('button', { type: 'button', 'data-action': 'resume', onclick: () => act('resume', r.id) }, 'Resume')
          : el('button', { type: 'button', 'data-action': 'suspend', onclick: () => act('suspend', r.id) }, 'Suspend'),
      ]),
    ];
  }

  async function viewSubscriber() {
    const id = S.me.subscriber_id;
    const [s, w, l] = await Promise.all([
      api('GET', '/v1/subscriptions?limit=100'), api('GET', `/v1/subscribers/${id}/wallet`),
      api('GET', `/v1/subscribers/${id}/ledger?limit=20`)]);
    const money = (v) => String(v ?? '');
    return [
      el('h2', null, `My subscriptions (${s.subscriptions.length})`),
      table('subscriptions', SUB_COLS, s.subscriptions),
      el('h2', null, 'Wallet'),
      el('dl', { class: 'facts', 'data-table': 'wallet' },
         ...['balance_usd', 'reserved_usd', 'receivable_usd', 'lifetime_fees'].flatMap((k) =>
           k in w ? [el('dt', null, k.replace(/_usd$/, '').replace('_', ' ')),
                     el('dd', { 'data-key': k }, money(w[k]))] : [])),
      el('h2', null, 'Ledger (latest 20)'),
      table('ledger', [{ key: 'entry_no', label: '#', num: true },
                       { key: 'entry_type', label: 'type' },
                       { key: 'amount', label: 'amount', num: true },
                       { key: 'balance_after', label: 'balance after', num: true },
                       { key: 'created_at', label: 'at' }],
            (l.entries || []).map((e) => ({ ...e, id: e.entry_no }))),
    ];
  }

  async function viewSubscription(id) {
    const [s, t] = await Promise.all([api('GET', `/v1/subscriptions/${id}`),
                                      api('GET', `/v1/subscriptions/${id}/trust`)]);
    const sub = s.subscription || s;
    const fact = (k, v) => [el('dt', null, k), el('dd', { 'data-key': k }, v)];
    const events = t.recent_events || [];
    return [
      el('p', null, link('#/', '\u2190 back')),
      el('h2', null, `Subscription ${sub.id}`),
      el('dl', { class: 'facts', 'data-table': 'subscription' },
         ...fact('state', el('span', { class: stateCls(sub.state) }, sub.state)),
         ...fact('state_reason', String(sub.state_reason ?? '')),
         ...fact('master_id', String(sub.master_id)),
         ...fact('subscriber_id', String(sub.subscriber_id)),
         ...fact('last_sequence_id', String(sub.last_sequence_id ?? '')),
         ...fact('trust_score', String(t.trust_score)),
         ...fact('incidents', String(t.incidents)),
         ...fact('auto_pauses', String(t.auto_pauses)),
         ...fact('copy_policy', JSON.stringify(sub.copy_policy ?? {}))),
      el('p', null, gauge(t.trust_score)),
      el('h2', null, `Recent protection events (${events.length})`),
      eventsChart(events),
      table('events', [{ key: 'event_time', label: 'at' }, { key: 'reason', label: 'reason' },
                       { key: 'sequence', label: 'sequence', num: true },
                       { key: 'latency_ms', label: 'latency ms', num: true },
                       { key: 'symbol', label: 'symbol' }],
            events.map((e, i) => ({ ...e, id: i }))),
    ];
  }

  // ---------------------------------------------------------------- routing
  function nav() {
    const n = $('nav');
    n.replaceChildren();
    if (!S.me) return;
    n.append(link('#/', S.me.role === 'operator' ? 'Overview' : 'My account'));
    $('who').textContent = S.me.role === 'operator' ? 'operator'
                                                    : `subscriber ${S.me.subscriber_id}`;
    $('logout').hidden = false;
  }

  async function render(seq) {
    const h = location.hash || '#/';
    let nodes;
    if (!S.me) nodes = await viewLogin();
    else if (h.startsWith('#/subscription/')) nodes = await viewSubscription(Number(h.slice(15)));
    else nodes = S.me.role === 'operator' ? await viewOperator() : await viewSubscriber();
    if (seq !== S.seq) return; // a newer render started meanwhile
    $('main').replaceChildren(...nodes);
    $('updated').textContent = S.me ? `updated ${new Date().toLocaleTimeString()}` : '';
    document.body.dataset.view = S.me ? (h.startsWith('#/subscription/') ? 'subscription'
                                                                          : S.me.role)
                                      : 'login';
  }

  async function refresh() {
    const seq = ++S.seq;
    try {
      await render(seq);
    } catch (e) {
      if (e.status === 401) { // the session ended: back to the sign-in form
        S.me = null;
        $('logout').hidden = true;
        $('who').textContent = '';
        nav();
        await render(++S.seq);
      }
      showError(e);
    }
  }

  function route() {
    clearInterval(S.timer);
    nav();
    refresh();
    if (S.me) S.timer = setInterval(() => { if (!document.hidden) refresh(); }, REFRESH_MS);
  }

  async function start() {
    $('logout').addEventListener('click', async () => {
      try { await api('POST', '/v1/console/logout'); } catch (_) { /* ended anyway */ }
      S.me = null;
      $('logout').hidden = true;
      $('who').textContent = '';
      message('info', 'signed out');
      location.hash = '#/';
      route();
    });
    window.addEventListener('hashchange', () => { message('', ''); route(); });
    try {
      const me = await api('GET', '/v1/console/me');
      S.me = me.role ? me : null; // no session (or an ended one): the sign-in form
    } catch (e) {
      S.me = null;
      showError(e);
    }
    route();
  }

  document.addEventListener('DOMContentLoaded', start);
})();
