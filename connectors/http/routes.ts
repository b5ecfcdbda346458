import { readdirSync, readFileSync, statSync } from 'node:fs';
import { extname, join } from 'node:path';
import type { HttpRequest, HttpResponse, TemplatedApp, WebSocket } from 'uWebSockets.js';
import type { Logger } from '../../engine/log.js';
import type { OperatorAction } from '../../engine/types.js';
import type { TokenBook, TokenEntry } from './tokens.js';

/**
 * The HTTP side of the operators' server: the console's static files, evidence JPEGs and live views. Every
 * route that shows a school's pictures takes the same bearer token as the alarm websocket and checks its
 * scope; every such view lands in the audit trail.
 */

export interface EvidenceReader {
  /** The alarm's evidence JPEG, awaiting a render in progress; null when there is none. */
  read(schoolId: string, cameraId: string, alarmId: string): Promise<Buffer | null>;
}

/** One live viewer as the live-view unit sees it: independent of uWS. */
export interface LiveViewSink {
  /** False when the viewer is too slow; it is then closed. */
  send(chunk: Uint8Array): boolean;
  close(code: number, reason: string): void;
}

export interface LiveViewService {
  /** Starts or reuses the camera's stream; throws (LiveViewCapError) at the cap. */
  open(schoolId: string, cameraId: string, rtspUrl: string): { ticket: string; expiresAt: number };
  attach(ticket: string, viewer: LiveViewSink): { detach(): void } | null;
}

export interface RouteContext {
  app: TemplatedApp;
  book: TokenBook;
  log: Logger;
  audit: (action: OperatorAction) => void;
}

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
};
/** Live video and websocket back to this server only; evidence arrives as blob: URLs. */
const CSP =
  "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; img-src 'self' blob: data:; " +
  "connect-src 'self' ws: wss:; " +
  "style-src 'self' 'unsafe-inline'; frame-ancestors 'none'";
const SAFE_ID = /^[A-Za-z0-9._-]{1,128}$/;
/** A live viewer with more than this unsent is too slow: video is only worth watching live. */
const LIVE_MAX_BUFFERED = 4 * 1024 * 1024;

function json(res: HttpResponse, status: string, body: unknown, headers: Record<string, string> = {}): void {
  res.writeStatus(status).writeHeader('content-type', 'application/json');
  for (const [k, v] of Object.entries(headers)) res.writeHeader(k, v);
  res.end(JSON.stringify(body));
}

type Authorised = { token: TokenEntry; schoolId: string; cameraId: string };

/**
 * Reads everything the handler needs from the request synchronously (uWS invalidates it on return) and
 * answers 400/401/403 itself; returns null when it has answered.
 */
function authorise(ctx: RouteContext, res: HttpResponse, req: HttpRequest): Authorised | null {
  const token = ctx.book.fromHeader(req.getHeader('authorization'));
  const schoolId = decodeURIComponent(req.getParameter(0) ?? '');
  const cameraId = decodeURIComponent(req.getParameter(1) ?? '');
  if (!token) {
    json(res, '401 Unauthorized', { error: 'unauthorized' }, { 'www-authenticate': 'Bearer' });
    return null;
  }
  if (!SAFE_ID.test(schoolId) || !SAFE_ID.test(cameraId)) {
    json(res, '400 Bad Request', { error: 'bad school or camera id' });
    return null;
  }
  if (!ctx.book.inScope(token, schoolId)) {
    json(res, '403 Forbidden', { error: `school ${schoolId} is outside your scope` });
    return null;
  }
  return { token, schoolId, cameraId };
}

/** The console at /console/: every file of its folder (not its tests), read once, plus vendor files. */
export function registerConsole(ctx: RouteContext, dir: string, vendor: Record<string, string>): void {
  const files = new Map<string, { body: Buffer; type: string }>();
  for (const name of readdirSync(dir)) {
    const type = CONTENT_TYPES[extname(name)];
    if (type && statSync(join(dir, name)).isFile())
      files.set(name, { body: readFileSync(join(dir, name)), type });
  }
  for (const [name, path] of Object.entries(vendor)) {
    const type = CONTENT_TYPES[extname(name)];
    if (type) files.set(`vendor/${name}`, { body: readFileSync(path), type });
  }
  const redirect = (res: HttpResponse): void => {
    res.writeStatus('302 Found').writeHeader('location', '/console/').end();
  };
  ctx.app.get('/', redirect);
  ctx.app.get('/console', redirect);
  ctx.app.get('/console/*', (res, req) => {
    const name = req.getUrl().slice('/console/'.length) || 'index.html';
    const file = files.get(name);
    if (!file) return void res.writeStatus('404 Not Found').end('not found');
    res
      .writeStatus('200 OK')
      .writeHeader('content-type', file.type)
      .writeHeader('cache-control', 'no-cache')
      .writeHeader('x-content-type-options', 'nosniff')
      .writeHeader('content-security-policy', CSP)
      .end(file.body);
  });
  ctx.log.info('Serving the operators console', { files: files.size });
}

/** GET /evidence/<school>/<camera>/<alarmId>.jpg */
export function registerEvidence(ctx: RouteContext, evidence: EvidenceReader): void {
  ctx.app.get('/evidence/:school/:camera/:file', (res, req) => {
    const file = req.getParameter(2) ?? '';
    const who = authorise(ctx, res, req);
    if (!who) return;
    const m = /^([A-Za-z0-9-]{1,64})\.jpg$/.exec(file);
    if (!m) return json(res, '400 Bad Request', { error: 'expected <alarmId>.jpg' });
    const alarmId = m[1]!;
    let aborted = false;
    res.onAborted(() => {
      aborted = true;
    });
    evidence
      .read(who.schoolId, who.cameraId, alarmId)
      .then((jpeg) => {
        if (aborted) return;
        res.cork(() => {
          if (!jpeg) return json(res, '404 Not Found', { error: 'no evidence for this alarm (yet)' });
          res
            .writeStatus('200 OK')
            .writeHeader('content-type', 'image/jpeg')
            .writeHeader('cache-control', 'private, no-cache')
            .end(jpeg);
        });
        if (jpeg)
          ctx.audit({
            time: Date.now(),
            alarmId,
            schoolId: who.schoolId,
            cameraId: who.cameraId,
            action: 'view-evidence',
            actor: who.token.name,
            role: who.token.role,
            comment: null,
          });
      })
      .catch((err: Error) => {
        ctx.log.error('Evidence read failed', { alarm: alarmId, error: err.message });
        if (!aborted)
          res.cork(() => json(res, '500 Internal Server Error', { error: 'evidence read failed' }));
      });
  });
}

interface Ticket {
  token: TokenEntry;
  schoolId: string;
  cameraId: string;
  alarmId: string | null;
  expiresAt: number;
}

interface LiveConn {
  ticket: string;
  grant: Ticket | null;
  detach: (() => void) | null;
}

/**
 * POST /live/<school>/<camera>[?alarm=<id>] → `{ "ws": "/live/ws/<ticket>" }` (429 at the cap); the player
 * then connects the websocket /live/ws/<ticket> and receives MPEG-TS. Tickets are single use and short lived,
 * so the bearer token never travels in a URL.
 */
export function registerLiveView(
  ctx: RouteContext,
  live: LiveViewService,
  rtspUrl: (schoolId: string, cameraId: string) => string | null,
): void {
  const tickets = new Map<string, Ticket>();
  ctx.app.post('/live/:school/:camera', (res, req) => {
    const alarm = req.getQuery('alarm') ?? '';
    const who = authorise(ctx, res, req);
    if (!who) return;
    const url = rtspUrl(who.schoolId, who.cameraId);
    if (!url) return json(res, '404 Not Found', { error: 'no live view for this camera' });
    const now = Date.now();
    for (const [t, g] of tickets) if (g.expiresAt < now) tickets.delete(t);
    let grant: { ticket: string; expiresAt: number };
    try {
      grant = live.open(who.schoolId, who.cameraId, url);
    } catch (err) {
      const message = (err as Error).message;
      ctx.log.warn('Live view refused', { name: who.token.name, camera: who.cameraId, reason: message });
      return json(res, '429 Too Many Requests', { error: message });
    }
    tickets.set(grant.ticket, {
      ...who,
      alarmId: /^[A-Za-z0-9-]{1,64}$/.test(alarm) ? alarm : null,
      expiresAt: grant.expiresAt,
    });
    json(res, '200 OK', { ws: `/live/ws/${grant.ticket}`, expiresAt: grant.expiresAt });
  });

  const action = (g: Ticket, kind: 'live-start' | 'live-stop'): void =>
    ctx.audit({
      time: Date.now(),
      alarmId: g.alarmId,
      schoolId: g.schoolId,
      cameraId: g.cameraId,
      action: kind,
      actor: g.token.name,
      role: g.token.role,
      comment: null,
    });

  ctx.app.ws<LiveConn>('/live/ws/*', {
    idleTimeout: 32,
    sendPingsAutomatically: true,
    maxPayloadLength: 1024,
    maxBackpressure: LIVE_MAX_BUFFERED * 2,
    upgrade: (res, req, context) => {
      const ticket = req.getUrl().slice('/live/ws/'.length);
      res.upgrade<LiveConn>(
        { ticket, grant: null, detach: null },
        req.getHeader('sec-websocket-key'),
        req.getHeader('sec-websocket-protocol'),
        req.getHeader('sec-websocket-extensions'),
        context,
      );
    },
    open: (ws: WebSocket<LiveConn>) => {
      const c = ws.getUserData();
      const grant = tickets.get(c.ticket);
      tickets.delete(c.ticket);
      let open = true;
      const handle = grant
        ? live.attach(c.ticket, {
            send: (chunk) => {
              if (!open) return false;
              const r = ws.send(chunk, true);
              return r === 1 || (r === 0 && ws.getBufferedAmount() <= LIVE_MAX_BUFFERED);
            },
            close: (code, reason) => {
              if (!open) return;
              open = false;
              ws.end(code, reason);
            },
          })
        : null;
      if (!grant || !handle) {
        open = false;
        return void ws.end(4404, 'unknown or expired live-view ticket');
      }
      c.grant = grant;
      c.detach = () => {
        open = false;
        handle.detach();
      };
      action(grant, 'live-start');
    },
    close: (ws: WebSocket<LiveConn>) => {
      const c = ws.getUserData();
      c.detach?.();
      if (c.grant) action(c.grant, 'live-stop');
    },
  });
}
