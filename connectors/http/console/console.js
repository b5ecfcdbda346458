// Kuzet operators' console: plain browser script, no build step. Server strings reach the DOM only through
// textContent. Protocol: connectors/http/alarm-socket.ts.
'use strict';

(function () {
  const SEVERITY_RANK = { critical: 0, high: 1, medium: 2, low: 3 };
  const DONE_STATES = new Set(['acknowledged', 'resolved']);
  const READ_ONLY_ROLES = new Set(['city-operator']);
  const MAX_STORED = 2000;
  const RESOLVED_KEEP_MS = 24 * 3600 * 1000;
  const EVIDENCE_TRIES = 6;
  const TOKEN_KEY = 'kuzet.token';
  const NAME_KEY = 'kuzet.name';
  const CLOSE_UNAUTHORIZED = 4401;
  const BASE_TITLE = document.title;
  /** Alarms that want an operator: not yet acknowledged, not resolved. */
  const NEEDS_ATTENTION = new Set(['open', 'confirmed', 'escalated']);
  /** A new critical or high alarm (or one escalated) chimes; at most one chime per CHIME_GAP_MS. */
  const CHIME_SEVERITIES = new Set(['critical', 'high']);
  const CHIME_GAP_MS = 2000;
  const SOUND_KEY = 'kuzet.sound';

  const $ = (id) => document.getElementById(id);
  const el = (tag, cls, text) => {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  };

  /** Session: the token lives in sessionStorage (survives a reload, not the tab). */
  let token = sessionStorage.getItem(TOKEN_KEY);
  let operator = null; // { name, role } after 'ready'
  /** Resume state, persisted per operator name: id → { seq, alarm, seenAt }; lastSeq = highest seq stored. */
  let store = { lastSeq: 0, alarms: {} };
  let storeKey = null;
  let ws = null;
  let backoffS = 1;
  let reconnectTimer = null;
  let countdownTimer = null;
  let flushPending = false;
  let pendingAck = 0;
  let selectedId = null;
  const fresh = new Map(); // alarm id → time it arrived live (brief highlight)
  let evidence = { key: null, url: null, timer: null, gen: 0 };
  let live = { player: null, gen: 0 };
  let soundOn = localStorage.getItem(SOUND_KEY) !== 'off';
  let audio = null; // AudioContext, made on a user gesture (browsers refuse sound before one)
  let chimeWanted = false;
  let lastChimeAt = 0;
  let chimes = 0;

  // ---------- persistence ----------

  function loadStore(name) {
    storeKey = 'kuzet.console.' + name;
    store = { lastSeq: 0, alarms: {} };
    try {
      const raw = localStorage.getItem(storeKey);
      if (raw) {
        const s = JSON.parse(raw);
        if (s && typeof s.lastSeq === 'number' && s.alarms && typeof s.alarms === 'object') store = s;
      }
    } catch {
      // A corrupt store starts over from the beginning of the stream.
    }
  }

  /** Keeps the store bounded: resolved alarms older than a day go, then the oldest beyond the cap. */
  function prune() {
    const now = Date.now();
    const entries = Object.entries(store.alarms);
    for (const [id, e] of entries) {
      const a = e.alarm;
      if (a.state === 'resolved' && now - (a.resolvedAt || a.time || 0) > RESOLVED_KEEP_MS) {
        delete store.alarms[id];
      }
    }
    const left = Object.entries(store.alarms);
    if (left.length <= MAX_STORED) return;
    // Resolved first, then the oldest.
    left.sort(
      (x, y) =>
        (y[1].alarm.state === 'resolved') - (x[1].alarm.state === 'resolved') ||
        (x[1].alarm.time || 0) - (y[1].alarm.time || 0),
    );
    for (const [id] of left.slice(0, left.length - MAX_STORED)) delete store.alarms[id];
  }

  function saveStore() {
    if (!storeKey) return;
    prune();
    try {
      localStorage.setItem(storeKey, JSON.stringify(store));
    } catch {
      // Quota: keep only the unresolved alarms and try once more.
      for (const [id, e] of Object.entries(store.alarms)) {
        if (e.alarm.state === 'resolved') delete store.alarms[id];
      }
      localStorage.setItem(storeKey, JSON.stringify(store));
    }
  }

  /** Upserts by alarm id, only when the message is newer than what is stored: no duplicates on resume. */
  function upsert(seq, alarm) {
    if (!alarm || typeof alarm.id !== 'string') return;
    const cur = store.alarms[alarm.id];
    if (!cur || seq > cur.seq) {
      if (!cur) fresh.set(alarm.id, Date.now());
      else if (cur.alarm.state !== alarm.state) fresh.set(alarm.id, Date.now());
      const becameUrgent =
        (alarm.state === 'confirmed' || alarm.state === 'escalated') &&
        (!cur || cur.alarm.state !== alarm.state);
      if (becameUrgent && CHIME_SEVERITIES.has(alarm.severity)) chimeWanted = true;
      store.alarms[alarm.id] = { seq, alarm };
    }
    if (seq > store.lastSeq) store.lastSeq = seq;
    if (seq > pendingAck) pendingAck = seq;
    scheduleFlush();
  }

  /** Stores a burst of messages with one write, then acks the highest seq (ack only after the durable write). */
  function scheduleFlush() {
    if (flushPending) return;
    flushPending = true;
    setTimeout(() => {
      flushPending = false;
      saveStore();
      if (pendingAck > 0 && ws && ws.readyState === WebSocket.OPEN) {
        ws.send(JSON.stringify({ type: 'ack', seq: pendingAck }));
      }
      pendingAck = 0;
      render();
      if (chimeWanted) chime();
      chimeWanted = false;
    }, 30);
  }

  // ---------- sound ----------

  /** Creates or wakes the audio context; only works inside a user gesture (sign-in, a click). */
  function unlockAudio() {
    try {
      const Ctx = window.AudioContext || window.webkitAudioContext;
      if (!audio && Ctx) audio = new Ctx();
      if (audio && audio.state === 'suspended') void audio.resume();
    } catch {
      audio = null;
    }
  }

  /** Two short tones; one per burst of urgent alarms, however many arrived together. */
  function chime() {
    const now = Date.now();
    if (!soundOn || now - lastChimeAt < CHIME_GAP_MS) return;
    lastChimeAt = now;
    chimes++;
    $('sound').dataset.chimes = String(chimes);
    if (!audio || audio.state !== 'running') return;
    const t0 = audio.currentTime;
    for (const [i, hz] of [880, 660].entries()) {
      const osc = audio.createOscillator();
      const gain = audio.createGain();
      osc.frequency.value = hz;
      gain.gain.setValueAtTime(0.0001, t0 + i * 0.18);
      gain.gain.exponentialRampToValueAtTime(0.25, t0 + i * 0.18 + 0.02);
      gain.gain.exponentialRampToValueAtTime(0.0001, t0 + i * 0.18 + 0.16);
      osc.connect(gain).connect(audio.destination);
      osc.start(t0 + i * 0.18);
      osc.stop(t0 + i * 0.18 + 0.17);
    }
  }

  function renderSound() {
    const b = $('sound');
    b.textContent = soundOn ? 'Sound on' : 'Sound off';
    b.setAttribute('aria-pressed', String(soundOn));
    b.dataset.state = soundOn ? 'on' : 'off';
  }

  // ---------- connection ----------

  function setConnection(status, text) {
    const c = $('connection');
    c.dataset.status = status;
    c.textContent = text || status;
  }

  function wsUrl(path) {
    return (location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + path;
  }

  function connect() {
    clearTimeout(reconnectTimer);
    clearInterval(countdownTimer);
    if (!token) return;
    setConnection('connecting');
    const sock = new WebSocket(wsUrl('/alarms'));
    ws = sock;
    sock.onopen = () => sock.send(JSON.stringify({ type: 'auth', token }));
    sock.onmessage = (ev) => {
      if (ws !== sock) return;
      let m;
      try {
        m = JSON.parse(ev.data);
      } catch {
        return;
      }
      onServerMessage(sock, m);
    };
    sock.onclose = (ev) => {
      if (ws !== sock) return;
      ws = null;
      if (ev.code === CLOSE_UNAUTHORIZED) {
        signOut('Sign-in refused: ' + (ev.reason || 'unauthorized'));
        return;
      }
      scheduleReconnect();
    };
  }

  function scheduleReconnect() {
    if (!token) return;
    let left = backoffS;
    backoffS = Math.min(backoffS * 2, 10);
    setConnection('reconnecting', 'reconnecting in ' + left + 's');
    countdownTimer = setInterval(() => {
      left -= 1;
      if (left > 0) setConnection('reconnecting', 'reconnecting in ' + left + 's');
    }, 1000);
    reconnectTimer = setTimeout(connect, left * 1000);
  }

  function onServerMessage(sock, m) {
    switch (m.type) {
      case 'ready':
        operator = { name: String(m.name), role: String(m.role) };
        $('operator').textContent = operator.name + ' (' + operator.role + ')';
        if (sessionStorage.getItem(NAME_KEY) !== operator.name || !storeKey) {
          sessionStorage.setItem(NAME_KEY, operator.name);
          loadStore(operator.name);
          render();
        }
        sock.send(JSON.stringify({ type: 'subscribe', filters: {}, resumeAfter: store.lastSeq }));
        return;
      case 'subscribed':
        // The stream was recreated and its numbers restarted: keep the list, forget the old numbers, so the
        // replay from the start updates it instead of being taken for old news.
        if (m.reset) {
          for (const e of Object.values(store.alarms)) e.seq = 0;
          store.lastSeq = 0;
          pendingAck = 0;
          saveStore();
        }
        backoffS = 1;
        setConnection('live');
        return;
      case 'alarm':
        if (typeof m.seq === 'number') upsert(m.seq, m.alarm);
        return;
      case 'acknowledged':
        if (m.alarmId === selectedId) ackStatus('Acknowledged.', false);
        return;
      case 'error':
        if (m.alarmId && m.alarmId === selectedId) ackStatus(String(m.reason || 'refused'), true);
        else console.warn('Server error:', m.reason);
        return;
    }
  }

  // ---------- session ----------

  function showConsole() {
    $('login').hidden = true;
    $('console').hidden = false;
    $('logout').hidden = false;
    $('sound').hidden = false;
  }

  function signIn(t) {
    token = t;
    sessionStorage.setItem(TOKEN_KEY, t);
    showConsole();
    connect();
  }

  function signOut(reason) {
    token = null;
    operator = null;
    sessionStorage.removeItem(TOKEN_KEY);
    sessionStorage.removeItem(NAME_KEY);
    clearTimeout(reconnectTimer);
    clearInterval(countdownTimer);
    if (ws) {
      const s = ws;
      ws = null;
      s.close(1000, 'logout');
    }
    stopLive();
    select(null);
    storeKey = null;
    store = { lastSeq: 0, alarms: {} };
    render();
    $('operator').textContent = '';
    setConnection('signed-out', 'signed out');
    $('console').hidden = true;
    $('logout').hidden = true;
    $('sound').hidden = true;
    $('login').hidden = false;
    $('login-error').textContent = reason || '';
    $('token').value = '';
    $('token').focus();
  }

  // ---------- list ----------

  function byPriority(a, b) {
    return (
      (SEVERITY_RANK[a.severity] ?? 9) - (SEVERITY_RANK[b.severity] ?? 9) ||
      (b.openedAt || 0) - (a.openedAt || 0) ||
      (a.id < b.id ? -1 : 1)
    );
  }

  const fmtTime = (ms) => (ms ? new Date(ms).toLocaleString() : '');

  function row(a) {
    const tr = el('tr', 'alarm sev-' + a.severity);
    tr.dataset.testid = 'alarm';
    tr.dataset.alarmId = a.id;
    tr.dataset.state = a.state;
    tr.dataset.kind = a.kind;
    tr.dataset.severity = a.severity;
    tr.tabIndex = 0;
    const t = fresh.get(a.id);
    if (t && Date.now() - t < 4000) tr.classList.add('fresh');
    if (a.id === selectedId) tr.classList.add('selected');
    const sev = el('td');
    sev.append(el('span', 'badge sev-' + a.severity, a.severity));
    tr.append(
      sev,
      el('td', null, a.kind),
      el('td', null, a.school),
      el('td', null, a.room ? a.camera + ' / ' + a.room : a.camera),
      el('td', null, a.zone || ''),
      el('td', 'state', a.state),
      el('td', null, fmtTime(a.openedAt)),
      el('td', 'num', typeof a.score === 'number' ? a.score.toFixed(2) : ''),
    );
    return tr;
  }

  function render() {
    const all = Object.values(store.alarms).map((e) => e.alarm);
    const active = all.filter((a) => a.state !== 'resolved').sort(byPriority);
    const resolved = all.filter((a) => a.state === 'resolved').sort(byPriority);
    $('active-list').replaceChildren(...active.map(row));
    $('resolved-list').replaceChildren(...resolved.map(row));
    $('resolved-count').textContent = String(resolved.length);
    $('empty').hidden = active.length > 0;
    const waiting = active.filter((a) => NEEDS_ATTENTION.has(a.state));
    const attention = waiting.length;
    const badge = $('attention');
    badge.textContent = attention > 0 ? attention + ' to acknowledge' : '';
    badge.hidden = attention === 0;
    badge.dataset.count = String(attention);
    badge.classList.toggle(
      'urgent',
      waiting.some((a) => a.severity === 'critical'),
    );
    document.title = (attention > 0 ? '(' + attention + ') ' : '') + BASE_TITLE;
    for (const [id, t] of fresh) if (Date.now() - t > 4000) fresh.delete(id);
    if (selectedId) {
      const e = store.alarms[selectedId];
      if (e) renderDetail(e.alarm);
      else select(null);
    }
  }

  // ---------- detail ----------

  function select(id) {
    if (id !== selectedId) {
      stopLive();
      $('ack-comment').value = '';
      ackStatus('', false);
    }
    selectedId = id;
    for (const tr of document.querySelectorAll('tr.alarm')) {
      tr.classList.toggle('selected', tr.dataset.alarmId === id);
    }
    const e = id ? store.alarms[id] : null;
    $('detail').hidden = !e;
    if (!e) {
      clearEvidence();
      return;
    }
    renderDetail(e.alarm);
  }

  function fact(dl, term, value) {
    if (value === null || value === undefined || value === '') return;
    dl.append(el('dt', null, term), el('dd', null, value));
  }

  function renderDetail(a) {
    $('detail-title').textContent = a.severity + ' · ' + a.kind;
    $('detail').dataset.alarmId = a.id;
    $('detail').dataset.state = a.state;
    const facts = $('detail-facts');
    facts.replaceChildren();
    fact(facts, 'State', a.state);
    fact(facts, 'School', a.school);
    fact(facts, 'Camera', a.camera);
    fact(facts, 'Room', a.room);
    fact(facts, 'Zone', a.zone);
    fact(facts, 'Score', typeof a.score === 'number' ? a.score.toFixed(2) : null);
    fact(facts, 'Opened', fmtTime(a.openedAt));
    fact(facts, 'Confirmed', fmtTime(a.confirmedAt));
    fact(
      facts,
      'Acknowledged',
      a.acknowledgedAt ? fmtTime(a.acknowledgedAt) + ' by ' + (a.acknowledgedBy || '?') : null,
    );
    fact(facts, 'Resolved', fmtTime(a.resolvedAt));
    const cues = $('detail-cues');
    cues.replaceChildren();
    for (const [k, v] of Object.entries(a.cues || {})) {
      fact(cues, k, typeof v === 'string' ? v : JSON.stringify(v));
    }
    const canAck = !DONE_STATES.has(a.state) && !(operator && READ_ONLY_ROLES.has(operator.role));
    $('ack-form').hidden = !canAck;
    // links.live is null for a camera without a live view.
    const hasLive = links(a).live !== null;
    $('live').hidden = !hasLive;
    if (!hasLive) stopLive();
    loadEvidence(a);
  }

  function links(a) {
    return (
      a.links || {
        evidence: '/evidence/' + a.school + '/' + a.camera + '/' + a.id + '.jpg',
        live: '/live/' + a.school + '/' + a.camera,
      }
    );
  }

  const authHeaders = () => ({ authorization: 'Bearer ' + token });

  function clearEvidence() {
    evidence.gen++;
    clearTimeout(evidence.timer);
    if (evidence.url) URL.revokeObjectURL(evidence.url);
    evidence = { key: null, url: null, timer: null, gen: evidence.gen };
    const img = $('evidence');
    img.hidden = true;
    img.removeAttribute('src');
    $('evidence-status').textContent = '';
  }

  /** Fetches the evidence frame with the bearer header (an <img src> cannot send it) and shows it as a blob. */
  function loadEvidence(a) {
    const path = links(a).evidence;
    // The evidence frame of an alarm improves while it lasts (a better-scoring sample): refetch when it moves.
    const key = a.id + ' ' + path + ' ' + (a.evidence ? a.evidence.seq : '');
    if (evidence.key === key) return;
    clearEvidence();
    evidence.key = key;
    const gen = evidence.gen;
    const status = $('evidence-status');
    status.textContent = 'Loading evidence…';
    const attempt = async (n) => {
      let res;
      try {
        res = await fetch(path, { headers: authHeaders() });
      } catch {
        res = null;
      }
      if (gen !== evidence.gen) return;
      if (res && res.ok) {
        const blob = await res.blob();
        if (gen !== evidence.gen) return;
        evidence.url = URL.createObjectURL(blob);
        const img = $('evidence');
        img.src = evidence.url;
        img.hidden = false;
        status.textContent = '';
        return;
      }
      if (res && (res.status === 401 || res.status === 403)) {
        status.textContent = 'Evidence not available to this token (' + res.status + ').';
        return;
      }
      if (n + 1 < EVIDENCE_TRIES) {
        status.textContent = 'Evidence not ready yet…';
        evidence.timer = setTimeout(() => attempt(n + 1), 1000);
      } else {
        status.textContent = 'No evidence image' + (res ? ' (' + res.status + ').' : '.');
      }
    };
    attempt(0);
  }

  function ackStatus(text, isError) {
    const p = $('ack-status');
    p.textContent = text;
    p.classList.toggle('error', !!isError);
    $('ack-button').disabled = false;
  }

  function acknowledge() {
    if (!selectedId) return;
    if (!ws || ws.readyState !== WebSocket.OPEN) {
      ackStatus('Not connected; try again when live.', true);
      return;
    }
    const comment = $('ack-comment').value.slice(0, 1000);
    ws.send(JSON.stringify({ type: 'acknowledge', alarmId: selectedId, comment }));
    $('ack-button').disabled = true;
    $('ack-status').textContent = 'Sending…';
  }

  // ---------- live view ----------

  function stopLive() {
    live.gen++;
    if (live.player) {
      try {
        live.player.destroy();
      } catch {
        // A player whose socket never opened may throw; nothing is left to stop.
      }
    }
    live.player = null;
    $('live-frame').replaceChildren();
    $('live-close').hidden = true;
    $('live-button').hidden = false;
    $('live-status').textContent = '';
  }

  async function startLive() {
    const e = selectedId && store.alarms[selectedId];
    if (!e) return;
    stopLive();
    const gen = live.gen;
    const status = $('live-status');
    status.textContent = 'Starting live view…';
    $('live-button').hidden = true;
    let res;
    let body = null;
    try {
      res = await fetch(links(e.alarm).live, { method: 'POST', headers: authHeaders() });
      body = await res.json().catch(() => null);
    } catch {
      res = null;
    }
    if (gen !== live.gen) return;
    if (!res || !res.ok || !body || typeof body.ws !== 'string') {
      $('live-button').hidden = false;
      if (res && res.status === 429)
        status.textContent = 'Live view at capacity: ' + ((body && body.error) || 'try later');
      else if (res && res.status === 404) status.textContent = 'Unknown camera.';
      else status.textContent = 'Live view failed' + (res ? ' (' + res.status + ')' : '') + '.';
      return;
    }
    // A fresh canvas each time: a canvas keeps the context type of its first player.
    const canvas = el('canvas');
    canvas.dataset.testid = 'live-canvas';
    canvas.dataset.frames = '0';
    $('live-frame').replaceChildren(canvas);
    $('live-close').hidden = false;
    status.textContent = 'Connecting…';
    let frames = 0;
    live.player = new window.JSMpeg.Player(wsUrl(body.ws), {
      canvas,
      autoplay: true,
      audio: false,
      // The ticket is single-use: a reconnect would be refused, so the operator restarts instead.
      reconnectInterval: 0,
      // Keeps the last frame readable (screenshots, the end-to-end test's pixel check).
      preserveDrawingBuffer: true,
      onSourceEstablished: () => {
        if (gen === live.gen) status.textContent = 'Live';
      },
      onVideoDecode: () => {
        frames++;
        canvas.dataset.frames = String(frames);
      },
    });
  }

  // ---------- wiring ----------

  function rowFromEvent(ev) {
    const tr = ev.target.closest('tr.alarm');
    return tr ? tr.dataset.alarmId : null;
  }

  for (const id of ['active-list', 'resolved-list']) {
    $(id).addEventListener('click', (ev) => {
      const aid = rowFromEvent(ev);
      if (aid) select(aid);
    });
    $(id).addEventListener('keydown', (ev) => {
      const aid = rowFromEvent(ev);
      if (aid && (ev.key === 'Enter' || ev.key === ' ')) {
        ev.preventDefault();
        select(aid);
      }
    });
  }
  $('login-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    unlockAudio();
    const t = $('token').value.trim();
    if (t) signIn(t);
  });
  $('sound').addEventListener('click', () => {
    soundOn = !soundOn;
    localStorage.setItem(SOUND_KEY, soundOn ? 'on' : 'off');
    unlockAudio();
    renderSound();
  });
  // After a reload the page may not play sound until the operator's first click anywhere.
  document.addEventListener('pointerdown', unlockAudio, { capture: true });
  renderSound();
  $('logout').addEventListener('click', () => signOut(''));
  $('ack-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    acknowledge();
  });
  $('live-button').addEventListener('click', () => startLive());
  $('live-close').addEventListener('click', () => stopLive());
  window.addEventListener('pagehide', () => stopLive());
  // Drops the brief highlight of new alarms without waiting for the next message.
  setInterval(() => {
    if (fresh.size > 0) render();
  }, 2000);

  // Resume: show what this operator had before the reload at once, then catch up from lastSeq.
  if (token) {
    const name = sessionStorage.getItem(NAME_KEY);
    if (name) {
      loadStore(name);
      render();
    }
    showConsole();
    connect();
  } else {
    signOut('');
  }
})();
