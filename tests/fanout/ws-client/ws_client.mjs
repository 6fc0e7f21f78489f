// ws_client.mjs: an independent WebSocket client for decp's fan-out, written with the npm
// `ws` package (not libwebsockets), for tests/fanout (issue 9). It subscribes to one
// master from sequence 1 and checks that it receives envelopes 1..COUNT exactly once, in
// order, bracketed by SyncStart/SyncEnd when they are a replay.
//
//   node ws_client.mjs URL TOKEN MASTER COUNT [json|binary] [CA]
//
// CA: a PEM file; with a wss:// URL the fan-out's certificate must chain to it (and name
// the URL's host), as with decp-subscriber --ca.
// binary (default): protobuf ClientMessage/ServerMessage (proto/decp.proto), encoded and
// decoded here by hand (only the fields used); json: URL?format=json, JSON text frames.
// Exit 0 when all COUNT arrived; 1 on a gap, duplicate, error or timeout (60 s).
import fs from 'node:fs';
import WebSocket from 'ws';

const [url, token, masterArg, countArg, mode, caPath] = process.argv.slice(2);
if (!url || !token || !masterArg || !countArg) {
  console.error('usage: node ws_client.mjs URL TOKEN MASTER COUNT [json|binary] [CA]');
  process.exit(2);
}
const master = Number(masterArg);
const count = Number(countArg);
const json = mode === 'json';

// ---- protobuf, the few fields used ----
function varint(n) {
  const out = [];
  while (n >= 0x80) {
    out.push((n % 0x80) | 0x80);
    n = Math.floor(n / 0x80);
  }
  out.push(n);
  return out;
}

function subscribeMessage(masterId, from) {
  const sub = [0x08, ...varint(masterId), 0x10, ...varint(from)]; // Subscribe{1, 2}
  return Buffer.from([0x0a, ...varint(sub.length), ...sub]); // ClientMessage.subscribe = 1
}

// Returns {field: value} of one message level: varints as numbers, bytes as Buffers.
function fields(buf) {
  const f = {};
  let i = 0;
  const readVarint = () => {
    let v = 0, mul = 1, b;
    do {
      if (i >= buf.length) throw new Error('truncated varint');
      b = buf[i++];
      v += (b & 0x7f) * mul;
      mul *= 0x80;
    } while (b & 0x80);
    return v;
  };
  while (i < buf.length) {
    const tag = readVarint(), field = Math.floor(tag / 8), wt = tag % 8;
    if (wt === 0) f[field] = readVarint();
    else if (wt === 2) {
      const len = readVarint();
      f[field] = buf.subarray(i, i + len);
      i += len;
    } else if (wt === 1) i += 8;
    else if (wt === 5) i += 4;
    else throw new Error(`wire type ${wt}`);
  }
  return f;
}

// ServerMessage -> {kind, master, sequence, ...}
function decodeBinary(buf) {
  const top = fields(buf);
  if (top[1]) { const e = fields(top[1]); return {kind: 'envelope', master: e[3] ?? 0, sequence: e[4] ?? 0, signal: e[1]}; }
  if (top[2]) { const s = fields(top[2]); return {kind: 'sync_start', master: s[1] ?? 0}; }
  if (top[3]) { const s = fields(top[3]); return {kind: 'sync_end', master: s[1] ?? 0, last: s[2] ?? 0}; }
  if (top[4]) return {kind: 'time_pong'};
  if (top[5]) return {kind: 'state_change'};
  if (top[6]) { const e = fields(top[6]); return {kind: 'error', code: e[1]}; }
  return {kind: 'unknown'};
}

function decodeJson(text) {
  const m = JSON.parse(text);
  if (m.envelope) return {kind: 'envelope', master: Number(m.envelope.master_id), sequence: Number(m.envelope.sequence), signal: m.envelope.signal};
  if (m.sync_start) return {kind: 'sync_start', master: Number(m.sync_start.master_id)};
  if (m.sync_end) return {kind: 'sync_end', master: Number(m.sync_end.master_id), last: Number(m.sync_end.last_sequence)};
  if (m.error) return {kind: 'error', code: m.error.code};
  return {kind: Object.keys(m)[0] ?? 'unknown'};
}

// ---- the run ----
const target = json ? url + (url.includes('?') ? '&' : '?') + 'format=json' : url;
const opts = {headers: {Authorization: `Bearer ${token}`}};
if (caPath) opts.ca = fs.readFileSync(caPath); // rejectUnauthorized stays true (the default)
const ws = new WebSocket(target, opts);
let next = 1, syncs = 0, binaryFrames = 0, textFrames = 0;
const fail = (why) => { console.error(`ws-client: FAIL ${why}`); process.exit(1); };
const timer = setTimeout(() => fail(`timeout: next expected ${next} of ${count}`), 60000);

ws.on('open', () => {
  if (json) ws.send(JSON.stringify({subscribe: {master_id: master, from_sequence: 1}}));
  else ws.send(subscribeMessage(master, 1));
});
ws.on('message', (data, isBinary) => {
  isBinary ? binaryFrames++ : textFrames++;
  if (json === isBinary) fail(`${isBinary ? 'binary' : 'text'} frame in ${json ? 'json' : 'binary'} mode`);
  const m = json ? decodeJson(data.toString('utf8')) : decodeBinary(data);
  if (m.kind === 'error') fail(`server error ${m.code}`);
  if (m.kind === 'sync_start' || m.kind === 'sync_end') syncs++;
  if (m.kind !== 'envelope') return;
  if (m.master !== master) fail(`envelope of master ${m.master}`);
  if (m.sequence !== next) fail(`sequence ${m.sequence}, expected ${next}`);
  if (!m.signal || m.signal.length === 0) fail(`envelope ${m.sequence} without a signal`);
  if (++next > count) {
    console.log(`ws-client: ${count} envelopes 1..${count} in order (${json ? 'json' : 'binary'}, ` +
                `${binaryFrames} binary / ${textFrames} text frames, ${syncs} sync markers)`);
    clearTimeout(timer);
    ws.close(1000);
  }
});
ws.on('close', (code) => { if (next <= count) fail(`closed ${code} at ${next}`); process.exit(0); });
ws.on('error', (err) => fail(err.message));
