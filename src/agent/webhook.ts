/**
 * Push events that start a reconcile round at once: GitHub-style (`X-Hub-Signature-256`,
 * an HMAC-SHA256 of the body with the shared secret) and GitLab-style (`X-Gitlab-Token`,
 * the secret itself). A request that is not authenticated gets 401 and starts nothing;
 * a push to another ref is acknowledged and ignored.
 */
import crypto from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { AgentLog } from './agent.js';
import { KfnError } from '../core/errors.js';

/** Push payloads are small; anything bigger is not one. */
export const MAX_BODY = 1024 * 1024;

export interface PushEvent {
  provider: 'github' | 'gitlab';
  ref: string;
  after?: string;
}

export interface WebhookOptions {
  host: string;
  port: number;
  secret: string;
  /** Full ref names whose pushes start a round. */
  refs: string[];
  onPush: (e: PushEvent) => void;
  log: AgentLog;
}

export interface WebhookServer {
  /** Where it listens (the port chosen when 0 was asked for). */
  host: string;
  port: number;
  close(): Promise<void>;
}

/** Refs a push must name to start a round for `ref` (a branch or a tag; a commit id never moves). */
export function watchedRefs(ref: string): string[] {
  if (ref.startsWith('refs/')) return [ref];
  if (/^[0-9a-f]{40}$/.test(ref)) return [];
  return [`refs/heads/${ref}`, `refs/tags/${ref}`];
}

function sameSecret(a: string, b: string): boolean {
  const ha = crypto.createHash('sha256').update(a).digest();
  const hb = crypto.createHash('sha256').update(b).digest();
  return crypto.timingSafeEqual(ha, hb);
}

/** Which provider authenticated the request, or why none did. */
export function authenticate(headers: http.IncomingHttpHeaders, body: Buffer, secret: string): 'github' | 'gitlab' | undefined {
  const sig = headers['x-hub-signature-256'];
  if (typeof sig === 'string') {
    const want = `sha256=${crypto.createHmac('sha256', secret).update(body).digest('hex')}`;
    return sig.length === want.length && crypto.timingSafeEqual(Buffer.from(sig), Buffer.from(want)) ? 'github' : undefined;
  }
  const token = headers['x-gitlab-token'];
  if (typeof token === 'string') return sameSecret(token, secret) ? 'gitlab' : undefined;
  return undefined;
}

function reply(res: http.ServerResponse, code: number, body: Record<string, unknown>): void {
  const text = JSON.stringify(body) + '\n';
  res.writeHead(code, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

function readBody(req: http.IncomingMessage): Promise<Buffer | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    // Past the limit the rest is read and dropped (the request timeout bounds it), so that the 413 reaches the client.
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size <= MAX_BODY) chunks.push(c);
    });
    req.on('end', () => resolve(size > MAX_BODY ? undefined : Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

async function handle(o: WebhookOptions, req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
  if (req.method !== 'POST') return reply(res, 405, { error: 'POST a push event' });
  const body = await readBody(req);
  if (!body) {
    res.setHeader('connection', 'close');
    return reply(res, 413, { error: `body larger than ${MAX_BODY} bytes` });
  }
  const provider = authenticate(req.headers, body, o.secret);
  if (!provider) {
    o.log.warn({ remote: req.socket.remoteAddress ?? null }, 'webhook: refused a request with a missing or bad signature');
    return reply(res, 401, { error: 'missing or bad signature' });
  }
  const event = String(req.headers[provider === 'github' ? 'x-github-event' : 'x-gitlab-event'] ?? '');
  if (provider === 'github' && event === 'ping') return reply(res, 200, { ok: true, pong: true });
  const isPush = provider === 'github' ? event === 'push' : event === 'Push Hook' || event === 'Tag Push Hook';
  if (!isPush) return reply(res, 200, { ok: true, ignored: `event ${event || '(none)'}` });
  let payload: { ref?: unknown; after?: unknown };
  try {
    payload = JSON.parse(body.toString('utf8')) as typeof payload;
  } catch {
    return reply(res, 400, { error: 'the body is not JSON' });
  }
  const ref = typeof payload.ref === 'string' ? payload.ref : '';
  if (!o.refs.includes(ref)) {
    o.log.info({ provider, ref }, 'webhook: push to another ref ignored');
    return reply(res, 200, { ok: true, ignored: `ref ${ref || '(none)'}` });
  }
  const e: PushEvent = { provider, ref, ...(typeof payload.after === 'string' ? { after: payload.after } : {}) };
  o.log.info({ provider, ref, after: e.after ?? null }, 'webhook: push accepted, starting a round');
  o.onPush(e);
  return reply(res, 202, { ok: true, round: 'started' });
}

export function startWebhook(o: WebhookOptions): Promise<WebhookServer> {
  const server = http.createServer((req, res) => {
    handle(o, req, res).catch((e: unknown) => {
      o.log.error({ error: e instanceof Error ? e.message : String(e) }, 'webhook: request failed');
      if (!res.headersSent) reply(res, 500, { error: 'internal error' });
    });
  });
  server.requestTimeout = 10_000;
  server.headersTimeout = 10_000;
  return new Promise((resolve, reject) => {
    server.once('error', (e: NodeJS.ErrnoException) =>
      reject(new KfnError('WEBHOOK_LISTEN_FAILED', `cannot listen on ${o.host}:${o.port}: ${e.code ?? e.message}`, { hint: 'pick a free port and an address of this host', cause: e })),
    );
    server.listen(o.port, o.host, () => {
      const a = server.address() as AddressInfo;
      resolve({
        host: a.address,
        port: a.port,
        close: () =>
          new Promise<void>((done) => {
            server.closeAllConnections();
            server.close(() => done());
          }),
      });
    });
  });
}
