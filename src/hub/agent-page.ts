/**
 * The reference agent page served at `/`, with its script at `/agent.js` and its styles at
 * `/agent.css`. Self-contained (no build step, no CDN). Script and styles are files rather
 * than inline so the page's CSP needs no 'unsafe-inline': an injection that slipped past
 * `textContent` still could not run. Caller data is attacker-controlled, so it is only ever
 * written with `textContent` after `displayText`, and links are shown only for http(s) URLs.
 */
export function agentPageHtml(): string {
  return PAGE;
}

/** The page's script; `wsPath` (hub.path) is written in as a JSON string literal. */
export function agentPageScript(wsPath: string): string {
  return SCRIPT.replace('__WS_PATH__', () => JSON.stringify(wsPath));
}

export const AGENT_PAGE_CSS = String.raw`  body { font-family: system-ui, sans-serif; margin: 0; background: #f4f5f7; color: #1d2330; }
  header { background: #1d2330; color: #fff; padding: 12px 20px; display: flex; gap: 12px; align-items: center; flex-wrap: wrap; }
  header h1 { font-size: 18px; margin: 0 12px 0 0; }
  header input { padding: 6px 8px; border-radius: 4px; border: 0; }
  header button { padding: 6px 14px; border-radius: 4px; border: 0; background: #4c8bf5; color: #fff; cursor: pointer; }
  #status { font-size: 13px; opacity: .85; }
  main { padding: 20px; display: grid; gap: 14px; grid-template-columns: repeat(auto-fill, minmax(320px, 1fr)); }
  .pop { background: #fff; border-radius: 8px; padding: 14px 16px; box-shadow: 0 1px 3px rgba(0,0,0,.12); border-left: 6px solid #4c8bf5; }
  .pop.answered { border-left-color: #2e9d5b; }
  .pop.ended, .pop.missed { opacity: .6; border-left-color: #9aa0aa; }
  .pop .top { display: flex; justify-content: space-between; font-size: 13px; color: #5b6475; }
  .pop .caller { font-size: 20px; font-weight: 600; margin: 6px 0 2px; }
  .pop .number { font-family: ui-monospace, monospace; color: #5b6475; }
  .pop dl { display: grid; grid-template-columns: max-content 1fr; gap: 2px 12px; margin: 10px 0 0; font-size: 14px; }
  .pop dt { color: #5b6475; }
  .pop dd { margin: 0; word-break: break-word; }
  /* Right-to-left caller text stays inside its own box instead of reordering its neighbours. */
  .pop .caller, .pop .number, .pop dt, .pop dd, .note { unicode-bidi: isolate; }
  .badge { display: inline-block; padding: 1px 8px; border-radius: 10px; background: #e4e8f0; font-size: 12px; }
  .badge.pending { background: #fff3c4; }
  .note { font-size: 13px; color: #8a5a00; margin-top: 6px; }
  .empty { color: #5b6475; padding: 20px; }
`;

const PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>callpop agent</title>
<link rel="stylesheet" href="/agent.css">
</head>
<body>
<header>
  <h1>callpop</h1>
  <label>Token <input id="token" type="password" autocomplete="off" size="16"></label>
  <label>Extensions <input id="agents" placeholder="1001,1002" size="12"></label>
  <button id="connect">Connect</button>
  <span id="status">not connected</span>
</header>
<main id="pops"><div class="empty" id="empty">No calls yet. Pops appear here when your phone rings.</div></main>
<script src="/agent.js"></script>
</body>
</html>
`;

const SCRIPT = String.raw`(function () {
  'use strict';
  // Caller names, numbers and CRM fields are attacker-controlled (a SIP From header, a CRM
  // record anyone can edit). textContent already keeps them from being HTML; this keeps them
  // from rearranging what the agent reads: a right-to-left override can make "+49 30 1234"
  // display as "4321 03 94+", and control characters can hide or fake text. Bidi embeddings,
  // overrides and isolates become U+FFFD (visible, so tampering shows); line breaks and tabs
  // a space; other C0/C1 controls U+FFFD. Pure, so the test runs it in Chromium directly.
  var BIDI_CONTROLS = /[\u061C\u200E\u200F\u202A-\u202E\u2066-\u2069]/g;
  var LINE_BREAKS = /[\t\n\v\f\r\u0085\u2028\u2029]/g;
  var CONTROLS = /[\u0000-\u001F\u007F-\u009F]/g;
  function displayText(value) {
    return String(value).replace(BIDI_CONTROLS, '\uFFFD').replace(LINE_BREAKS, ' ').replace(CONTROLS, '\uFFFD');
  }
  window.callpop = { displayText: displayText };
  var WS_PATH = __WS_PATH__;
  var params = new URLSearchParams(location.search);
  var tokenInput = document.getElementById('token');
  var agentsInput = document.getElementById('agents');
  var statusEl = document.getElementById('status');
  var popsEl = document.getElementById('pops');
  var emptyEl = document.getElementById('empty');
  tokenInput.value = params.get('token') || sessionStorage.getItem('callpop.token') || '';
  agentsInput.value = params.get('agents') || sessionStorage.getItem('callpop.agents') || '';
  var ws = null, session = null, lastSeq = 0, retry = 500, cards = {};
  // Cards shown before a fresh (not resumed) session: those the snapshot does not list again
  // ended while this page was away (or the daemon was down) and are closed when it completes.
  var unconfirmed = null;

  function el(tag, cls, text) {
    var node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined && text !== null) node.textContent = displayText(text);
    return node;
  }
  function setStatus(text) { statusEl.textContent = displayText(text); }
  function safeUrl(value) {
    try { var u = new URL(value); return (u.protocol === 'https:' || u.protocol === 'http:') ? u.href : null; } catch (e) { return null; }
  }
  function show(value) {
    if (value === null || value === undefined) return '';
    if (typeof value === 'object') return Array.isArray(value) ? value.map(show).join(', ') : JSON.stringify(value);
    return String(value);
  }

  function renderPop(m) {
    var key = m.callId + '|' + m.agent;
    var card = cards[key];
    if (!card) {
      card = el('section', 'pop');
      card.setAttribute('data-call', m.callId);
      card.setAttribute('data-state', 'ringing');
      cards[key] = card;
      popsEl.insertBefore(card, popsEl.firstChild);
    }
    if (emptyEl.parentNode) emptyEl.remove();
    // A snapshot (sent on subscribe, e.g. after a reload or a daemon restart) carries the
    // call's state as last rendered: an answered call shows as answered, not as ringing.
    if (m.snapshot && (m.state === 'ringing' || m.state === 'answered')) setState(card, m.state);
    card.textContent = '';
    var top = el('div', 'top');
    var label = m.direction === 'outbound' ? 'Outbound' : (m.queue ? 'Queue ' + m.queue : 'Inbound');
    top.appendChild(el('span', null, label + ' \u2192 ' + m.agent));
    var state = el('span', 'badge state', card.getAttribute('data-state') || 'ringing');
    top.appendChild(state);
    card.appendChild(top);
    var party = m.direction === 'outbound' ? m.callee : m.caller;
    var name = m.anonymous ? 'Withheld number' : (m.fields && m.fields.name) || (party && party.name) || 'Unknown caller';
    card.appendChild(el('div', 'caller', name));
    card.appendChild(el('div', 'number', m.anonymous ? 'number withheld' : (party && party.number) || ''));
    if (m.pending) card.appendChild(el('span', 'badge pending', 'looking up\u2026'));
    if (m.transferredFrom) card.appendChild(el('div', 'note', 'Transferred from ' + m.transferredFrom));
    if (m.matches && m.matches.length > 1) card.appendChild(el('div', 'note', (m.matches.length - 1) + ' other customer(s) share this number'));
    var dl = el('dl');
    Object.keys(m.fields || {}).forEach(function (k) {
      var value = m.fields[k];
      if (k === 'name' || value === null || value === '' || (Array.isArray(value) && value.length === 0)) return;
      dl.appendChild(el('dt', null, k));
      dl.appendChild(el('dd', null, show(m.fields[k])));
    });
    Object.keys(m.links || {}).forEach(function (k) {
      var href = safeUrl(m.links[k]);
      if (!href) return;
      dl.appendChild(el('dt', null, k));
      var dd = el('dd');
      var a = el('a', null, 'open');
      a.href = href; a.target = '_blank'; a.rel = 'noopener noreferrer';
      dd.appendChild(a);
      dl.appendChild(dd);
    });
    card.appendChild(dl);
  }

  function setState(card, state) {
    card.setAttribute('data-state', state);
    card.className = 'pop ' + state;
    var badge = card.querySelector('.state');
    if (badge) badge.textContent = state;
  }

  function renderState(m) {
    var card = cards[m.callId + '|' + m.agent];
    if (card) setState(card, m.state);
  }

  function connect() {
    var token = tokenInput.value.trim();
    var agents = agentsInput.value.split(',').map(function (s) { return s.trim(); }).filter(Boolean);
    if (!token || agents.length === 0) { setStatus('enter a token and your extension(s)'); return; }
    sessionStorage.setItem('callpop.token', token);
    sessionStorage.setItem('callpop.agents', agents.join(','));
    if (ws) { ws.onclose = null; ws.close(); }
    var url = (location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + WS_PATH;
    ws = new WebSocket(url);
    setStatus('connecting\u2026');
    ws.onopen = function () {
      var hello = { type: 'hello', v: 1, token: token };
      if (session) hello.resume = { session: session, seq: lastSeq };
      ws.send(JSON.stringify(hello));
    };
    ws.onmessage = function (ev) {
      var m;
      try { m = JSON.parse(ev.data); } catch (e) { return; }
      if (typeof m.seq === 'number' && m.seq > 0) lastSeq = m.seq;
      if (m.type === 'welcome') {
        session = m.session; retry = 500;
        if (!m.resumed) {
          unconfirmed = {};
          Object.keys(cards).forEach(function (k) { if (/ringing|answered/.test(cards[k].getAttribute('data-state') || '')) unconfirmed[k] = true; });
          ws.send(JSON.stringify({ type: 'subscribe', agents: agents }));
        }
        setStatus('connected as ' + agents.join(', '));
      } else if (m.type === 'subscribed') {
        if (unconfirmed) Object.keys(unconfirmed).forEach(function (k) { if (cards[k]) setState(cards[k], 'ended'); });
        unconfirmed = null;
        // Counts the times the page was brought up to date with the server's calls (a test
        // or an embedder can wait for the next one).
        statusEl.setAttribute('data-synced', String(Number(statusEl.getAttribute('data-synced') || '0') + 1));
      } else if (m.type === 'pop' || m.type === 'update') {
        if (unconfirmed) delete unconfirmed[m.callId + '|' + m.agent];
        renderPop(m); ws.send(JSON.stringify({ type: 'ack', seq: m.seq }));
      }
      else if (m.type === 'call') { renderState(m); }
      else if (m.type === 'error') { setStatus('error: ' + m.message); }
    };
    ws.onclose = function (ev) {
      // Refusals that retrying cannot fix: a wrong token, another protocol, a token whose
      // every session is in use.
      if (ev.code === 4003 || ev.code === 4426 || ev.code === 4409) { setStatus('refused: ' + (ev.reason || ev.code)); return; }
      setStatus('disconnected, retrying\u2026');
      setTimeout(connect, retry);
      retry = Math.min(retry * 2, 10000);
    };
  }
  document.getElementById('connect').addEventListener('click', function () { session = null; lastSeq = 0; connect(); });
  if (tokenInput.value && agentsInput.value) connect();
})();
`;
