// decp console (docs/console.md): the operator's and the subscriber's view of the JSON API.
// Plain JavaScript, no build step. Every value from the API is put in the page as text
// (textContent / SVG attributes), never as HTML. The session is an HttpOnly cookie: this
// script never holds a token after the sign-in form has sent it.
'use strict';

(() => {
  // Live updates come as Server-Sent Events (GET /v1/console/stream: "something changed",
  // the page re-reads); the timer is only a backstop for a stream that cannot be held.
  const REFRESH_MS = 15000;
  const NS = 'http://www.w3.org/2000/svg';
  const S = { me: null, timer: null, es: null, seq: 0, editing: false, filter: { sub: '', reason: '' },
             alerts: { state: 'open', kind: '' } };
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

  // The trust score over time: a step line from the subscription's creation (100) through
  // every change the trust role recorded, to now; the pause line at 50.
  function trustChart(created, history, now) {
    const W = 720, H = 160, L = 40, B = 22;
    const c = svg('svg', { class: 'chart', viewBox: `0 0 ${W} ${H}`, role: 'img',
                           'aria-label': 'trust score history', 'data-points': String(history.length) });
    const t0 = Math.min(Date.parse(created), ...history.map((h) => Date.parse(h.at)));
    const t1 = Math.max(now, t0 + 1);
    const x = (t) => L + ((t - t0) / (t1 - t0)) * (W - L - 10);
    const y = (v) => 8 + (1 - v / 100) * (H - B - 16);
    let d = `M${x(t0).toFixed(1)},${y(100).toFixed(1)}`;
    for (const h of history) {
      const tx = x(Date.parse(h.at)).toFixed(1);
      d += ` H${tx} V${y(Number(h.score)).toFixed(1)}`;
    }
    d += ` H${x(t1).toFixed(1)}`;
    c.append(svg('line', { class: 'axis', x1: L, y1: y(50), x2: W - 10, y2: y(50),
                           'stroke-dasharray': '4 4' }),
             svg('path', { d, fill: 'none', stroke: '#0969da', 'stroke-width': '2' }),
             svg('text', { x: 4, y: y(100) + 4 }, '100'), svg('text', { x: 4, y: y(50) + 4 }, '50'),
             svg('text', { x: 4, y: y(0) + 4 }, '0'),
             svg('text', { x: L, y: H - 6 }, new Date(t0).toLocaleString()),
             svg('text', { x: W - 10, y: H - 6, 'text-anchor': 'end' }, 'now'));
    return c;
  }

  // Recent protection events as dots: time across, latency up.
  function eventsChart(events) {
    const W = 720, H = 180, L = 64, B = 22;
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

  // signals/s per master from two readings of its last sequence (no counter to keep)
  function withRates(masters) {
    const now = Date.now(), prev = S.rates || new Map();
    S.rates = new Map();
    return masters.map((m) => {
      const seq = Number(m.last_sequence || 0), p = prev.get(m.id);
      S.rates.set(m.id, { seq, t: now });
      const rate = p && now > p.t ? ((seq - p.seq) * 1000) / (now - p.t) : null;
      return { ...m, rate: rate === null ? '\u2013' : rate.toFixed(1),
               last_signal_age_s: m.last_signal_age_s ?? 'never',
               connected: m.connected === null ? 'unknown' : m.connected ? 'yes' : 'no',
               edge: m.edge ?? '\u2013', connected_since: m.connected_since ?? '\u2013' };
    });
  }

  // The alert feed (sql 0024): what the roles found that an operator must act on.
  const ALERT_KINDS = ['auto_pause', 'platform_lag', 'unknown_instrument', 'positions_mismatch',
                       'book_stopped'];
  const ALERT_COLS = [
    { key: 'id', label: 'id', num: true }, { key: 'kind', label: 'kind' },
    { key: 'master_id', label: 'master', num: true },
    { key: 'subscription_id', label: 'subscription',
      fmt: (v) => (v ? link(`#/subscription/${v}`, v) : '') },
    { key: 'message', label: 'message' }, { key: 'count', label: 'count', num: true },
    { key: 'first_at', label: 'first' }, { key: 'last_at', label: 'last' },
    { key: 'acknowledged_at', label: 'acknowledged',
      fmt: (v, r) => (v ? `${v} (${r.acknowledged_by})` : '') },
  ];

  async function acknowledge(id) {
    if (!confirm(`Acknowledge alert ${id}? Its next occurrence opens a new alert.`)) return;
    try {
      await api('POST', `/v1/alerts/${id}/acknowledge`);
      message('info', `alert ${id} acknowledged`);
      await refresh();
    } catch (e) { showError(e); }
  }

  function alertTable(rows) {
    return table('alerts', ALERT_COLS, rows, (r) => (r.acknowledged_at ? [] : [
      el('button', { type: 'button', 'data-action': 'acknowledge',
                     onclick: () => acknowledge(r.id) }, 'Acknowledge')]));
  }

  async function viewAlerts() {
    const f = S.alerts;
    const q = new URLSearchParams({ limit: '100', state: f.state });
    if (f.kind) q.set('kind', f.kind);
    const r = await api('GET', `/v1/alerts?${q}`);
    const state = el('select', { id: 'f-state' },
                     ...['open', 'acknowledged', 'all'].map((x) =>
                       el('option', { value: x, selected: x === f.state }, x)));
    const kind = el('select', { id: 'f-kind' }, el('option', { value: '' }, 'any kind'),
                    ...ALERT_KINDS.map((x) => el('option', { value: x, selected: x === f.kind }, x)));
    const apply = el('button', { type: 'button', id: 'f-apply' }, 'Filter');
    apply.addEventListener('click', () => {
      S.alerts = { state: state.value, kind: kind.value };
      refresh();
    });
    return [
      el('h2', null, `Alerts (${r.alerts.length}${r.next_before ? '+' : ''})`),
      el('p', { class: 'muted', 'data-open-alerts': String(r.open) },
         `${r.open} open. An open alert folds its repeats (count, last); acknowledging ` +
         'closes it.'),
      el('p', { class: 'filters' }, state, ' ', kind, ' ', apply),
      alertTable(r.alerts),
    ];
  }

  async function viewOperator() {
    const [m, s, a] = await Promise.all([api('GET', '/v1/masters/activity'),
                                         api('GET', '/v1/subscriptions?limit=100'),
                                         api('GET', '/v1/alerts?state=open&limit=5')]);
    return [
      el('h2', null, link('#/alerts', `Open alerts (${a.open})`)),
      ...(a.open > 0 ? [alertTable(a.alerts)] : [el('p', { class: 'muted' }, 'No open alert.')]),
      el('h2', null, `Masters (${m.masters.length})`),
      table('masters', [{ key: 'id', label: 'id', num: true }, { key: 'name', label: 'name' },
                        { key: 'connected', label: 'connected' }, { key: 'edge', label: 'edge' },
                        { key: 'connected_since', label: 'since' },
                        { key: 'last_sequence', label: 'last sequence', num: true },
                        { key: 'last_signal_age_s', label: 'last signal (s ago)', num: true },
                        { key: 'rate', label: 'signals/s', num: true }], withRates(m.masters)),
      el('p', { class: 'muted' }, `Masters: ${m.note}; signals/s between two refreshes.`),
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
    return [
      el('h2', null, `My subscriptions (${s.subscriptions.length})`),
      table('subscriptions', SUB_COLS, s.subscriptions),
      el('h2', null, 'Wallet'), walletFacts(w),
      el('h2', null, 'Ledger (latest 20)'), ledgerTable(l),
    ];
  }

  // The copy policy as JSON, editable where the API allows it (both roles, a live
  // subscription); the refresh holds off while it is being edited.
  function policyEditor(sub) {
    const ta = el('textarea', { id: 'policy', rows: 4, spellcheck: false },
                  JSON.stringify(sub.copy_policy ?? {}, null, 1));
    ta.addEventListener('focus', () => { S.editing = true; });
    const save = el('button', { type: 'button', id: 'policy-save' }, 'Save policy');
    save.addEventListener('click', async () => {
      let body;
      try { body = JSON.parse(ta.value); } catch (e) {
        message('error', `the policy is not valid JSON: ${e.message}`);
        return;
      }
      try {
        const r = await api('POST', `/v1/subscriptions/${sub.id}/copy-policy`, body);
        S.editing = false;
        message('info', `policy saved (version ${r.copy_policy_version})`);
        await refresh();
      } catch (e) { showError(e); }
    });
    const cancel = el('button', { type: 'button', onclick: () => { S.editing = false; refresh(); } },
                      'Cancel');
    return el('div', { class: 'policy' }, ta, el('p', null, save, ' ', cancel));
  }

  // The subscriber's positions beside the master's: matched by the master's signal that
  // opened them. held: both have it; missing: the master holds it, the subscriber does not;
  // extra: the subscriber still holds what the master no longer does.
  function positionRows(book, mine) {
    const bySeq = new Map(mine.map((p) => [Number(p.opened_sequence), p]));
    const noBook = Number(book.sequence) === 0 && book.positions.length === 0;
    const rows = [];
    for (const m of book.positions) {
      const p = bySeq.get(Number(m.opened_sequence));
      bySeq.delete(Number(m.opened_sequence));
      rows.push({ id: `m${m.ticket}`, master_ticket: m.ticket, symbol: m.symbol, type: m.type,
                  master_volume: m.volume, ticket: p ? p.broker_ticket : '', volume: p ? p.volume : '',
                  status: p ? (p.partly_closed ? 'held (partly closed)' : 'held') : 'missing' });
    }
    for (const p of bySeq.values()) {
      rows.push({ id: `s${p.broker_ticket}`, master_ticket: p.master_ticket ?? '', symbol: p.symbol ?? '',
                  type: p.order_type ?? '', master_volume: '', ticket: p.broker_ticket, volume: p.volume,
                  status: noBook ? 'no book to compare' : 'extra' });
    }
    return rows;
  }

  async function viewSubscription(id) {
    const [s, t, fee, mine] = await Promise.all([api('GET', `/v1/subscriptions/${id}`),
                                                 api('GET', `/v1/subscriptions/${id}/trust`),
                                                 api('GET', `/v1/subscriptions/${id}/performance-fee?profit=0`),
                                                 api('GET', `/v1/subscriptions/${id}/positions`)]);
    const sub = s.subscription || s;
    let book = null;
    try { book = await api('GET', `/v1/masters/${sub.master_id}/positions`); } catch (e) { book = { error: e }; }
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
         ...fact('copy_policy_version', String(sub.copy_policy_version)),
         ...fact('fee_pct', String(fee.fee_pct)),
         ...fact('high_water_mark', String(fee.hwm))),
      el('p', null, gauge(t.trust_score)),
      el('h2', null, `Trust score history (${(t.history || []).length} change${(t.history || []).length === 1 ? '' : 's'})`),
      trustChart(sub.created_at, t.history || [], Date.now()),
      el('h2', null, book.error ? 'Positions'
                                : `Positions: this subscription beside master ${sub.master_id} (its book at sequence ${book.sequence})`),
      !book.error && Number(book.sequence) === 0 && book.positions.length === 0
        ? el('p', { class: 'muted', id: 'no-book' }, `No position book is kept for master ${sub.master_id} yet (the book role keeps them: decp-control --roles ...,book); this subscription's positions are listed without a comparison.`)
        : '',
      book.error ? el('p', { class: 'muted' }, `the master's book is not available: ${book.error.message}`)
                 : table('positions', [{ key: 'master_ticket', label: 'master ticket', num: true },
                                       { key: 'symbol', label: 'symbol' }, { key: 'type', label: 'type' },
                                       { key: 'master_volume', label: 'master lots/100', num: true },
                                       { key: 'ticket', label: 'my ticket', num: true },
                                       { key: 'volume', label: 'my lots/100', num: true },
                                       { key: 'status', label: 'status',
                                         cls: (v) => (v.startsWith('held') ? 'state-SYNCED' : v.startsWith('no book') ? 'muted' : 'state-PAUSED_TOXIC') }],
                         positionRows(book, mine.positions || [])),
      el('h2', null, 'Copy policy'),
      policyEditor(sub),
      el('h2', null, `Recent protection events (${events.length})`),
      eventsChart(events),
      table('events', [{ key: 'event_time', label: 'at' }, { key: 'reason', label: 'reason' },
                       { key: 'sequence', label: 'sequence', num: true },
                       { key: 'latency_ms', label: 'latency ms', num: true },
                       { key: 'symbol', label: 'symbol' }],
            events.map((e, i) => ({ ...e, id: i }))),
    ];
  }

  // guard's reason names (guard_check.c), as protection events carry them
  const REASONS = ['TTL_EXPIRED', 'SEQUENCE_GAP', 'PRICE_DEVIATION', 'REPLAY', 'STATE_LOCKED',
                   'INSUFFICIENT_FUNDS', 'INSUFFICIENT_MARGIN', 'INVALID_SIGNATURE', 'FILTERED',
                   'UNKNOWN_INSTRUMENT', 'MALFORMED'];

  // The protection-event feed, newest first, filtered by subscription and reason.
  async function viewEvents() {
    const f = S.filter;
    const q = new URLSearchParams({ limit: '100' });
    if (f.sub) q.set('subscription_id', f.sub);
    if (f.reason) q.set('reason', f.reason);
    const r = await api('GET', `/v1/protection-events?${q}`);
    const sub = el('input', { id: 'f-sub', type: 'text', inputMode: 'numeric', value: f.sub,
                              placeholder: 'subscription id' });
    const reason = el('select', { id: 'f-reason' }, el('option', { value: '' }, 'any reason'),
                      ...REASONS.map((x) => el('option', { value: x, selected: x === f.reason }, x)));
    const apply = el('button', { type: 'button', id: 'f-apply' }, 'Filter');
    apply.addEventListener('click', () => {
      S.filter = { sub: sub.value.trim(), reason: reason.value };
      refresh();
    });
    return [
      el('h2', null, `Protection events (${r.events.length}${r.next_before ? '+' : ''})`),
      el('p', { class: 'filters' }, sub, ' ', reason, ' ', apply),
      eventsChart(r.events),
      table('feed', [{ key: 'id', label: 'id', num: true }, { key: 'event_time', label: 'at' },
                     { key: 'subscription_id', label: 'subscription',
                       fmt: (v) => (v ? link(`#/subscription/${v}`, v) : '') },
                     { key: 'reason', label: 'reason' },
                     { key: 'sequence', label: 'sequence', num: true },
                     { key: 'latency_ms', label: 'latency ms', num: true },
                     { key: 'symbol', label: 'symbol' }, { key: 'attribution', label: 'attribution' }],
            r.events),
    ];
  }

  // The operator's subscribers: each with its wallet a click away.
  async function viewSubscribers() {
    const r = await api('GET', '/v1/subscribers?limit=1000');
    return [
      el('h2', null, `Subscribers (${r.subscribers.length})`),
      table('subscribers', [{ key: 'id', label: 'id', fmt: (v) => link(`#/subscriber/${v}`, v) },
                            { key: 'name', label: 'name' }, { key: 'created_at', label: 'created' },
                            { key: 'disabled_at', label: 'disabled' }], r.subscribers),
    ];
  }

  async function revokeToken(id) {
    if (!confirm(`Revoke subscriber token ${id}? Its sessions end within a second.`)) return;
    try {
      await api('POST', `/v1/subscriber-tokens/${id}/revoke`);
      message('info', `token ${id} revoked`);
      await refresh();
    } catch (e) { showError(e); }
  }

  function walletFacts(w) {
    return el('dl', { class: 'facts', 'data-table': 'wallet' },
              ...['balance_usd', 'reserved_usd', 'receivable_usd', 'lifetime_fees'].flatMap((k) =>
                k in w ? [el('dt', null, k.replace(/_usd$/, '').replace('_', ' ')),
                          el('dd', { 'data-key': k }, String(w[k] ?? ''))] : []));
  }

  function ledgerTable(l) {
    return table('ledger', [{ key: 'entry_no', label: '#', num: true },
                            { key: 'entry_type', label: 'type' },
                            { key: 'amount', label: 'amount', num: true },
                            { key: 'balance_after', label: 'balance after', num: true },
                            { key: 'created_at', label: 'at' }],
                 (l.entries || []).map((e) => ({ ...e, id: e.entry_no })));
  }

  // One subscriber, for the operator: wallet, fees, ledger, tokens (revocable).
  async function viewSubscriberAdmin(id) {
    const [s, w, l, t] = await Promise.all([
      api('GET', `/v1/subscribers/${id}`), api('GET', `/v1/subscribers/${id}/wallet`),
      api('GET', `/v1/subscribers/${id}/ledger?limit=20`), api('GET', `/v1/subscribers/${id}/tokens`)]);
    return [
      el('p', null, link('#/subscribers', '\u2190 subscribers')),
      el('h2', null, `Subscriber ${s.id}: ${s.name}`),
      el('h2', null, 'Wallet'), walletFacts(w),
      el('h2', null, 'Tokens'),
      table('tokens', [{ key: 'id', label: 'id', num: true }, { key: 'label', label: 'label' },
                       { key: 'created_at', label: 'created' }, { key: 'expires_at', label: 'expires' },
                       { key: 'revoked_at', label: 'revoked' }], t.tokens,
            (r) => (r.revoked_at ? [] : [el('button', { type: 'button', 'data-action': 'revoke',
                                                          onclick: () => revokeToken(r.id) }, 'Revoke')])),
      el('h2', null, 'Ledger (latest 20)'), ledgerTable(l),
    ];
  }

  // Prometheus text (the api's /metrics) into {name{labels}: value}.
  function parseMetrics(text) {
    const m = new Map();
    for (const line of text.split('\n')) {
      if (!line || line[0] === '#') continue;
      const sp = line.lastIndexOf(' ');
      m.set(line.slice(0, sp), Number(line.slice(sp + 1)));
    }
    return m;
  }
  // A quantile (seconds) of one histogram from its cumulative buckets.
  function quantile(m, name, labels, q) {
    const b = [...m].filter(([k]) => k.startsWith(`${name}_bucket{${labels}`))
      .map(([k, v]) => ({ le: k.includes('le="+Inf"') ? Infinity : Number(/le="([^"]+)"/.exec(k)[1]), v }))
      .sort((x, y) => x.le - y.le);
    const total = b.length ? b[b.length - 1].v : 0;
    if (!total) return null;
    return b.find((x) => x.v >= q * total).le;
  }
  // a histogram quantile is known only to its bucket: "≤ bound"
  const ms = (s) => (s === null ? '\u2013' : s === Infinity ? 'above the largest bucket'
                                                             : `\u2264 ${+(s * 1000).toPrecision(3)} ms`);

  // The roles and the edge, as the api's /metrics sees them (this process's roles and the
  // dataplane on this host).
  async function viewSystem() {
    const res = await fetch('/metrics', { credentials: 'same-origin', cache: 'no-store' });
    if (!res.ok) throw Object.assign(new Error('metrics unavailable'), { status: res.status });
    const m = parseMetrics(await res.text());
    const g = (k) => (m.has(k) ? m.get(k) : null);
    const up = (k) => (g(k) === 1 ? 'up' : g(k) === 0 ? 'down' : 'not in this process');
    const rows = [
      { id: 'dataplane', what: 'dataplane (edge)', value: up('decp_dataplane_up') },
      { id: 'postgresql', what: 'PostgreSQL', value: up('decp_postgresql_up') },
      { id: 'redis', what: 'Redis', value: up('decp_redis_up') },
    ];
    for (const [k, v] of m) {
      const r = /^decp_ring_depth\{ring="([^"]+)"/.exec(k);
      if (r) rows.push({ id: `ring-${r[1]}`, what: `ring ${r[1]} (entries waiting)`, value: String(v) });
    }
    const stages = new Set([...m.keys()].map((k) => /^decp_ingest_latency_seconds_count\{stage="([^"]+)"/.exec(k))
      .filter(Boolean).map((x) => x[1]));
    for (const st of stages) {
      rows.push({ id: `lat-${st}`, what: `ingest ${st} p50 / p99`,
                  value: `${ms(quantile(m, 'decp_ingest_latency_seconds', `stage="${st}"`, 0.5))} / ${ms(quantile(m, 'decp_ingest_latency_seconds', `stage="${st}"`, 0.99))}` });
    }
    rows.push({ id: 'api-p99', what: 'api request p99', value: ms(quantile(m, 'decp_api_request_duration_seconds', '', 0.99)) });
    const states = [...m].map(([k, v]) => [/^decp_subscriptions\{state="([^"]+)"/.exec(k), v]).filter(([x]) => x)
      .map(([x, v]) => ({ id: x[1], state: x[1], count: v }));
    return [
      el('h2', null, 'Roles and edge'),
      table('system', [{ key: 'what', label: '' }, { key: 'value', label: '', num: true }], rows),
      el('h2', null, 'Subscriptions by state'),
      table('states', [{ key: 'state', label: 'state', cls: stateCls }, { key: 'count', label: 'count', num: true }], states),
      el('p', { class: 'muted' }, 'From this api process\'s /metrics (Prometheus format).'),
    ];
  }

  // ---------------------------------------------------------------- routing
  function nav() {
    const n = $('nav');
    n.replaceChildren();
    if (!S.me) return;
    const here = (location.hash || '#/').split('?')[0];
    const items = [['#/', S.me.role === 'operator' ? 'Overview' : 'My account'],
                   ['#/events', 'Protection events']];
    if (S.me.role === 'operator') {
      items.push(['#/alerts', 'Alerts'], ['#/subscribers', 'Subscribers'], ['#/system', 'System']);
    }
    for (const [h, t] of items) {
      const a = link(h, t);
      if (h === here) a.className = 'active';
      n.append(a);
    }
    $('who').textContent = S.me.role === 'operator' ? 'operator'
                                                    : `subscriber ${S.me.subscriber_id}`;
    $('logout').hidden = false;
  }

  async function render(seq) {
    const h = location.hash || '#/';
    let nodes;
    let view = S.me ? S.me.role : 'login';
    if (!S.me) nodes = await viewLogin();
    else if (h.startsWith('#/subscription/')) {
      view = 'subscription';
      nodes = await viewSubscription(Number(h.slice(15)));
    } else if (h.startsWith('#/events')) {
      view = 'events';
      nodes = await viewEvents();
    } else if (h.startsWith('#/alerts') && S.me.role === 'operator') {
      view = 'alerts';
      nodes = await viewAlerts();
    } else if (h === '#/subscribers' && S.me.role === 'operator') {
      view = 'subscribers';
      nodes = await viewSubscribers();
    } else if (h.startsWith('#/subscriber/') && S.me.role === 'operator') {
      view = 'subscriber-admin';
      nodes = await viewSubscriberAdmin(Number(h.slice(13)));
    } else if (h === '#/system' && S.me.role === 'operator') {
      view = 'system';
      nodes = await viewSystem();
    } else nodes = S.me.role === 'operator' ? await viewOperator() : await viewSubscriber();
    if (seq !== S.seq) return; // a newer render started meanwhile
    // a form being edited is not replaced under the user's hands: the refresh waits
    if (S.editing) return;
    $('main').replaceChildren(...nodes);
    S.shown = h;
    $('updated').textContent = S.me ? `updated ${new Date().toLocaleTimeString()}` : '';
    document.body.dataset.view = view;
  }

  async function refresh() {
    const seq = ++S.seq;
    try {
      await render(seq);
    } catch (e) {
      if (e.status === 401) { // the session ended: back to the sign-in form
        stream(false);
        S.me = null;
        $('logout').hidden = true;
        $('who').textContent = '';
        nav();
        await render(++S.seq);
      } else if (S.shown !== (location.hash || '#/')) {
        // a page that cannot be shown: never leave the previous page's data under it
        $('main').replaceChildren();
        S.shown = null;
        document.body.dataset.view = 'error';
      }
      showError(e);
    }
  }

  function stream(on) {
    if (!on) {
      if (S.es) S.es.close();
      S.es = null;
      return;
    }
    if (S.es) return;
    S.es = new EventSource('/v1/console/stream');
    S.es.addEventListener('change', () => { if (!document.hidden) refresh(); });
    S.es.addEventListener('open', () => { document.body.dataset.live = 'on'; });
    S.es.addEventListener('error', () => { document.body.dataset.live = 'off'; });
  }

  function route() {
    clearInterval(S.timer);
    nav();
    refresh();
    stream(!!S.me);
    if (S.me) S.timer = setInterval(() => { if (!document.hidden) refresh(); }, REFRESH_MS);
  }

  async function start() {
    $('logout').addEventListener('click', async () => {
      stream(false);
      try { await api('POST', '/v1/console/logout'); } catch (_) { /* ended anyway */ }
      S.me = null;
      $('logout').hidden = true;
      $('who').textContent = '';
      message('info', 'signed out');
      location.hash = '#/';
      route();
    });
    window.addEventListener('hashchange', () => { message('', ''); S.editing = false; route(); });
    // a one-time sign-in link (#code=...): out of the address bar and the history at
    // once, then traded for a session, but never in place of the session this browser
    // holds, and only once the user says so: another site's page can open a link made for
    // someone else (its own), and would otherwise sign the user in as that someone
    // without a word (login CSRF); it cannot answer the question for the user
    const link = /^#code=([0-9a-f]{64})$/.exec(location.hash);
    if (link) {
      history.replaceState(null, '', `${location.pathname}#/`);
      let cur = null;
      try { cur = await api('GET', '/v1/console/me'); } catch (_) { cur = null; }
      if (cur && cur.role) {
        message('error', 'this browser is signed in already ' +
                `(${cur.role === 'operator' ? 'operator' : `subscriber ${cur.subscriber_id}`}): ` +
                'the sign-in link was not used; sign out first to use it');
      } else if (!confirm('Sign in with this one-time sign-in link? It signs this browser in ' +
                          'as whoever made the link: use only a link you asked for.')) {
        message('info', 'the sign-in link was not used');
      } else {
        try {
          await api('POST', '/v1/console/session', { code: link[1] });
        } catch (e) {
          showError(e);
        }
      }
    }
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
