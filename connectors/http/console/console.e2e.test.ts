import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { connect } from 'nats';
import { chromium, type Browser, type Page } from 'playwright-core';
import postgres from 'postgres';
import WebSocket from 'ws';
import { startFleet, type Fleet } from '../../../bench/fleet/server.js';
import { parseConfig } from '../../../engine/config/load.js';
import { Engine } from '../../../engine/engine.js';
import { createLogger, type LogLevel } from '../../../engine/log.js';
import { Metrics } from '../../../engine/metrics.js';
import { repoPath } from '../../../engine/paths.js';
import { waitFor } from '../../../engine/test/helpers.js';

// The page's globals as far as the callbacks run in the browser use them (the project compiles without the DOM lib).
interface PageElement {
  dataset: Record<string, string | undefined>;
  hidden: boolean;
  textContent: string | null;
}
interface PageImage extends PageElement {
  complete: boolean;
  naturalWidth: number;
}
interface PageCanvas extends PageElement {
  width: number;
  height: number;
  getContext(type: '2d'): {
    drawImage(source: PageCanvas, x: number, y: number): void;
    getImageData(x: number, y: number, w: number, h: number): { data: Uint8ClampedArray };
  } | null;
}
declare const document: {
  querySelector<T extends PageElement = PageElement>(selector: string): T | null;
  createElement(tag: 'canvas'): PageCanvas;
};
declare const localStorage: {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
};

const CHROMIUM = '/usr/bin/chromium';
/** KUZET_E2E_LOG=info shows the engine's log while debugging this test. */
const logLevel = (process.env.KUZET_E2E_LOG ?? 'error') as LogLevel;
const TOKEN = 'test-police-token';
const OPERATOR = 'desk-1';
const COMMENT = 'Unit 12 on the way <b>not bold</b>';

/** One camera, the standing person of the fixture clip, feet inside a restricted zone (as in engine.test.ts). */
function engineYaml(rtspUrl: string, dataDir: string): string {
  const sha256 = createHash('sha256').update(TOKEN).digest('hex');
  return `
city: { id: test-city, name: Test City }
engine:
  metrics: { port: 0 }
  nats: { url: 'nats://127.0.0.1:1', embedded: auto, storeDir: '${dataDir}/nats' }
  database: { url: '', embeddedPort: 0, embeddedDataDir: memory, spoolDir: '${dataDir}/spool' }
  statusLine: false
  http: { port: 0, tokens: [{ name: ${OPERATOR}, sha256: ${sha256}, role: police }], evidence: { dir: '${dataDir}/evidence' } }
  camera: { reconnectInitialMs: 500, reconnectMaxMs: 2000 }
detectors:
  - { id: yolox-nano, type: yolox, model: detectors/yolox/yolox_nano.onnx, labels: detectors/yolox/coco_classes.txt }
pipelines:
  - { id: default, detector: yolox-nano, sampling: { type: keyframes, maxFps: 2 }, analytics: { intrusion: { dwellMs: 500 } } }
schools:
  - id: s1
    name: Test school
    cameras:
      - id: cam-person
        url: '${rtspUrl}'
        zones: [{ id: store-room, kind: restricted, polygon: [[0.2, 0.7], [0.5, 0.7], [0.5, 1.0], [0.2, 1.0]] }]
`;
}

interface Delivered {
  seq: number;
  alarm: { id: string; kind: string; state: string; acknowledgedBy: string | null };
}

/** A websocket client of the test's own: every alarm message the server delivers, from the start of the stream. */
function watchAlarms(port: number): { socket: WebSocket; delivered: Delivered[] } {
  const socket = new WebSocket(`ws://127.0.0.1:${port}/alarms`, {
    headers: { authorization: `Bearer ${TOKEN}` },
  });
  const delivered: Delivered[] = [];
  socket.on('error', () => {});
  socket.on('message', (raw) => {
    const m = JSON.parse(String(raw)) as { type: string } & Partial<Delivered>;
    if (m.type === 'ready') socket.send(JSON.stringify({ type: 'subscribe', filters: {}, resumeAfter: 0 }));
    if (m.type === 'alarm') delivered.push({ seq: m.seq!, alarm: m.alarm! });
  });
  return { socket, delivered };
}

/** Alarm ids of the rows on the page, in order, duplicates included. */
const rowIds = (page: Page): Promise<string[]> =>
  page.$$eval('[data-testid="alarm"]', (rows) =>
    rows.map((r) => (r as unknown as PageElement).dataset.alarmId ?? ''),
  );

const text = (page: Page, testId: string) => page.getByTestId(testId).textContent();

async function waitLive(page: Page): Promise<void> {
  await page.waitForFunction(
    () => document.querySelector('[data-testid="connection"]')?.textContent === 'live',
    null,
    { timeout: 15_000 },
  );
}

/** True once the live canvas shows decoded frames or non-black pixels. */
function liveCanvasShowsVideo(): boolean {
  const canvas = document.querySelector<PageCanvas>('[data-testid="live-canvas"]');
  if (!canvas) return false;
  if (Number(canvas.dataset.frames) > 0) return true;
  if (canvas.width === 0 || canvas.height === 0) return false;
  // Pixels, whatever the player's renderer (WebGL with preserveDrawingBuffer, or 2D).
  const copy = document.createElement('canvas');
  copy.width = canvas.width;
  copy.height = canvas.height;
  const ctx = copy.getContext('2d')!;
  ctx.drawImage(canvas, 0, 0);
  const px = ctx.getImageData(0, 0, copy.width, copy.height).data;
  for (let i = 0; i < px.length; i += 4 * 97) if (px[i]! + px[i + 1]! + px[i + 2]! > 30) return true;
  return false;
}

describe('operators console in headless Chromium', () => {
  it(
    'shows a staged intrusion, stores the acknowledgement, plays live video, resumes after a reload',
    {
      timeout: 150_000,
    },
    async () => {
      assert.ok(existsSync(CHROMIUM), `${CHROMIUM} is missing: apt-get install chromium`);
      let fleet: Fleet | null = null;
      let engine: Engine | null = null;
      let browser: Browser | null = null;
      let watcher: ReturnType<typeof watchAlarms> | null = null;
      let page: Page | null = null;
      // A fresh alarm stream and evidence folder: nothing from an earlier run may show in the console.
      const dataDir = mkdtempSync(join(tmpdir(), 'kuzet-console-e2e-'));
      const pageErrors: string[] = [];
      // Console errors include expected ones (a 404 while the evidence is still being rendered): diagnosis only.
      const consoleErrors: string[] = [];
      // What the live-view websocket brought to the page.
      const live = { sockets: 0, bytes: 0, closed: '' };
      /** The page's and the server's side of things, appended to a failure. */
      const diagnose = async (): Promise<string> => {
        const rows = page
          ? await page.$$eval('[data-testid="alarm"]', (rs) =>
              rs.map((r) => {
                const d = (r as unknown as PageElement).dataset;
                return `${d.alarmId}:${d.kind}:${d.state}`;
              }),
            )
          : [];
        const statuses = page
          ? await Promise.all(
              ['connection', 'ack-status', 'live-status'].map(async (id) => `${id}=${await text(page!, id)}`),
            )
          : [];
        const evidence = page ? await page.locator('#evidence-status').textContent() : '';
        const delivered = (watcher?.delivered ?? []).map((d) => `${d.seq}:${d.alarm.kind}:${d.alarm.state}`);
        return [
          `rows: ${rows.join(', ')}`,
          `${statuses.join('; ')}; evidence=${evidence}`,
          `live socket: ${JSON.stringify(live)}`,
          `delivered over the websocket: ${delivered.join(', ')}`,
          `page errors: ${pageErrors.join('; ')}`,
          `console errors: ${consoleErrors.join('; ')}`,
        ].join('\n');
      };
      try {
        fleet = await startFleet({
          port: 0,
          cameras: [{ path: 'person', clip: repoPath('bench/fixtures/clips/person-640x424.h264') }],
          log: createLogger('fleet', 'warn'),
        });
        const cfg = parseConfig(
          engineYaml(`rtsp://127.0.0.1:${fleet.port}/person`, dataDir),
          'console.e2e.test.yaml',
        );
        engine = new Engine(cfg, { log: createLogger('engine', logLevel), metrics: new Metrics(false) });
        await engine.start();
        const port = engine.alarmSocketPort;
        assert.ok(port > 0, 'the HTTP/websocket server listens');
        watcher = watchAlarms(port);
        const { delivered } = watcher;

        browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
        const p = (page = await browser.newPage());
        p.on('pageerror', (e) => pageErrors.push(e.message));
        p.on('console', (m) => {
          if (m.type() === 'error') consoleErrors.push(m.text());
        });
        p.on('websocket', (ws) => {
          if (!ws.url().includes('/live/ws/')) return;
          live.sockets++;
          ws.on('framereceived', (f) => {
            live.bytes += typeof f.payload === 'string' ? f.payload.length : f.payload.byteLength;
          });
          ws.on('close', () => (live.closed = 'closed'));
          ws.on('socketerror', (e) => (live.closed = e));
        });
        await p.goto(`http://127.0.0.1:${port}/console/`);
        assert.equal(await text(p, 'connection'), 'signed out');

        // Sign in; the operator's name and role come from the server.
        await p.getByTestId('token').fill(TOKEN);
        await p.getByTestId('login-button').click();
        await waitLive(p);
        assert.equal(await text(p, 'operator'), `${OPERATOR} (police)`);

        // The intrusion confirmed by the engine shows up as a row.
        const row = p.locator('[data-testid="alarm"][data-kind="intrusion"][data-state="confirmed"]').first();
        await row.waitFor({ timeout: 60_000 });
        const alarmId = (await row.getAttribute('data-alarm-id'))!;
        assert.ok(alarmId, 'the row names its alarm');
        assert.equal(await row.getAttribute('data-severity'), 'high');
        // It wants the operator: counted in the header and the tab's title, and announced by a chime.
        const attention = async () => Number(await p.getByTestId('attention').getAttribute('data-count'));
        const waiting = await attention();
        assert.ok(waiting >= 1, `attention count ${waiting}`);
        assert.match(await p.title(), new RegExp(`^\\(${waiting}\\) Kuzet`));
        assert.ok(Number(await p.getByTestId('sound').getAttribute('data-chimes')) >= 1, 'a chime for it');

        // Its detail: the evidence frame loads (fetched with the bearer token, shown as a blob).
        await row.click();
        await p.waitForFunction(
          () => {
            const img = document.querySelector<PageImage>('[data-testid="evidence"]');
            return !!img && !img.hidden && img.complete && img.naturalWidth > 0;
          },
          null,
          { timeout: 15_000 },
        );

        // Acknowledge with a comment; the state change comes back as an alarm message.
        await p.getByTestId('ack-comment').fill(COMMENT);
        await p.getByTestId('ack-button').click();
        await p
          .locator(`[data-testid="alarm"][data-alarm-id="${alarmId}"][data-state="acknowledged"]`)
          .waitFor({ timeout: 10_000 });
        assert.equal(await p.getByTestId('ack-form').isHidden(), true, 'no second acknowledgement offered');
        assert.ok((await attention()) < waiting, 'the acknowledged alarm no longer waits for anyone');
        const acked = await waitFor('the acknowledged alarm on the websocket', 5_000, () =>
          delivered.find((d) => d.alarm.id === alarmId && d.alarm.state === 'acknowledged'),
        );
        assert.equal(acked.alarm.acknowledgedBy, OPERATOR);

        // The acknowledgement is stored: the audit row and the alarm's state.
        const sql = postgres(engine.databaseUrl, { max: 1, onnotice: () => {} });
        try {
          const action = await waitFor('the acknowledge row in alarm_actions', 15_000, async () => {
            const rows = await sql<{ action: string; actor: string; comment: string | null }[]>`
            select action, actor, comment from alarm_actions where alarm_id = ${alarmId}`;
            return rows.find((r) => r.action === 'acknowledge');
          });
          assert.deepEqual({ ...action }, { action: 'acknowledge', actor: OPERATOR, comment: COMMENT });
          await waitFor('the acknowledged state in alarms', 15_000, async () => {
            const rows = await sql<{ state: string }[]>`select state from alarms where alarm_id = ${alarmId}`;
            return rows.some((r) => r.state === 'acknowledged') ? true : undefined;
          });
        } finally {
          await sql.end();
        }

        // Live view: the player decodes frames onto the canvas; closing it removes the player.
        await p.getByTestId('live-button').click();
        await p.waitForFunction(liveCanvasShowsVideo, null, { timeout: 15_000, polling: 250 });
        await p.getByTestId('live-close').click();
        assert.equal(await p.locator('[data-testid="live-canvas"]').count(), 0, 'the player is gone');

        // Reload: the stored list shows at once, then the stream resumes without losing or duplicating alarms.
        await waitFor('the page to hold every alarm the server delivered', 10_000, async () => {
          const ids = new Set(await rowIds(p));
          return delivered.every((d) => ids.has(d.alarm.id)) ? true : undefined;
        });
        const before = await rowIds(p);
        assert.equal(new Set(before).size, before.length, `no duplicate rows before the reload: ${before}`);
        const deliveredIds = new Set(delivered.map((d) => d.alarm.id));
        await p.reload();
        await p.waitForSelector('[data-testid="alarm"]', { timeout: 5_000 });
        await waitLive(p);
        await waitFor('the resumed page to hold every delivered alarm', 10_000, async () => {
          const ids = new Set(await rowIds(p));
          return delivered.every((d) => ids.has(d.alarm.id)) ? true : undefined;
        });
        await new Promise((r) => setTimeout(r, 1000)); // a late duplicate would land here
        const after = await rowIds(p);
        assert.equal(new Set(after).size, after.length, `no duplicate rows after the reload: ${after}`);
        for (const id of before) assert.ok(after.includes(id), `alarm ${id} kept across the reload`);
        for (const id of deliveredIds)
          assert.ok(after.includes(id), `delivered alarm ${id} shown after the reload`);
        assert.equal(
          await p.locator(`[data-testid="alarm"][data-alarm-id="${alarmId}"]`).getAttribute('data-state'),
          'acknowledged',
        );
        assert.equal(await text(p, 'connection'), 'live');
        const stored = await p.evaluate(
          (name) => JSON.parse(localStorage.getItem(`kuzet.console.${name}`) ?? '{}') as { lastSeq?: number },
          OPERATOR,
        );
        const maxSeq = Math.max(...delivered.map((d) => d.seq));
        assert.ok((stored.lastSeq ?? 0) >= maxSeq, `stored lastSeq ${stored.lastSeq} covers seq ${maxSeq}`);

        // Away while a panic button is pressed: the console is closed (its socket gone), the alarm is raised,
        // and the console opened again catches up on it from its stored sequence, still without duplicates.
        await p.goto('about:blank');
        const nc = await connect({ servers: engine.natsUrl! });
        try {
          await nc
            .jetstream()
            .publish(
              'kuzet.scan.panic.s1',
              JSON.stringify({ v: 1, eventId: 'e2e-panic', button: 'b-1', room: 'Hall', time: Date.now() }),
            );
        } finally {
          await nc.close();
        }
        const panic = await waitFor('the panic alarm on the websocket', 20_000, () =>
          delivered.find((d) => d.alarm.kind === 'panic'),
        );
        await p.goto(`http://127.0.0.1:${port}/console/`);
        await waitLive(p);
        const panicRow = p.locator(`[data-testid="alarm"][data-alarm-id="${panic.alarm.id}"]`);
        await panicRow.waitFor({ timeout: 10_000 });
        assert.equal(await panicRow.getAttribute('data-severity'), 'critical');
        assert.equal((await rowIds(p))[0], panic.alarm.id, 'the critical alarm heads the list');
        await new Promise((r) => setTimeout(r, 1000)); // a late duplicate would land here
        const caughtUp = await rowIds(p);
        assert.equal(
          new Set(caughtUp).size,
          caughtUp.length,
          `no duplicate rows after catching up: ${caughtUp}`,
        );
        for (const id of after)
          assert.ok(caughtUp.includes(id), `alarm ${id} kept while the console was closed`);
        deliveredIds.add(panic.alarm.id);
        const maxSeqNow = Math.max(...delivered.map((d) => d.seq));

        // A browser that stored numbers from a stream since recreated (numbers far ahead): the server replays
        // from the start and the page forgets its old numbers, so it keeps every alarm, once, up to date.
        await p.evaluate((name) => {
          const key = `kuzet.console.${name}`;
          const st = JSON.parse(localStorage.getItem(key) ?? '{}') as {
            lastSeq: number;
            alarms: Record<string, { seq: number }>;
          };
          st.lastSeq += 1_000_000;
          for (const e of Object.values(st.alarms)) e.seq += 1_000_000;
          localStorage.setItem(key, JSON.stringify(st));
        }, OPERATOR);
        await p.reload();
        await waitLive(p);
        await waitFor('the stored numbers replaced by the replayed ones', 10_000, async () => {
          const st = await p.evaluate(
            (name) =>
              JSON.parse(localStorage.getItem(`kuzet.console.${name}`) ?? '{}') as { lastSeq?: number },
            OPERATOR,
          );
          const seq = st.lastSeq ?? 0;
          return seq >= maxSeqNow && seq < 1_000_000 ? true : undefined;
        });
        const replayed = await rowIds(p);
        assert.equal(
          new Set(replayed).size,
          replayed.length,
          `no duplicate rows after the replay: ${replayed}`,
        );
        for (const id of deliveredIds) assert.ok(replayed.includes(id), `alarm ${id} kept after the replay`);
        assert.equal(
          await p.locator(`[data-testid="alarm"][data-alarm-id="${alarmId}"]`).getAttribute('data-state'),
          'acknowledged',
        );
        // The operator mutes the chime; the choice outlives a reload.
        await p.getByTestId('sound').click();
        assert.equal(await p.getByTestId('sound').getAttribute('data-state'), 'off');
        await p.reload();
        await waitLive(p);
        assert.equal(await p.getByTestId('sound').getAttribute('data-state'), 'off');
        assert.deepEqual(pageErrors, [], 'no uncaught script errors on the page');
      } catch (err) {
        if (err instanceof Error) err.message += `\n${await diagnose().catch((e: Error) => e.message)}`;
        throw err;
      } finally {
        watcher?.socket.close();
        await browser?.close();
        await engine?.stop();
        await fleet?.stop();
        rmSync(dataDir, { recursive: true, force: true });
      }
    },
  );
});
