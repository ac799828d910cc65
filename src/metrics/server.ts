/**
 * The HTTP endpoint of `kfn serve` and `kfn reconcile --metrics-addr`: GET /metrics (the
 * exposition, read from the kernel now), /healthz (the process answers: liveness) and
 * /ready (200 once the live state was read, else 503: readiness). Nothing else.
 */
import http from 'node:http';
import net from 'node:net';
import { KfnError } from '../core/errors.js';

export interface ListenAddress {
  host: string;
  port: number;
}

/** `HOST:PORT`, `[IPv6]:PORT` or `:PORT` (every address); port 0 picks a free one. */
export function parseListenAddress(text: string): ListenAddress {
  const m = /^(?:\[([0-9A-Fa-f:.]+)\]|([^:[\]]*)):(\d{1,5})$/.exec(text.trim());
  const port = m ? Number(m[3]) : NaN;
  const host = m ? (m[1] ?? m[2] ?? '') : '';
  if (!m || port > 65535 || (m[1] !== undefined && net.isIPv6(host) === false) || /\s/.test(host)) {
    throw new KfnError('USAGE', `invalid listen address "${text}"`, { hint: 'HOST:PORT, [IPv6]:PORT or :PORT, e.g. 127.0.0.1:9477' });
  }
  return { host: host || '0.0.0.0', port };
}

export interface MetricsEndpoint {
  render(): Promise<string>;
  readonly contentType: string;
  readonly ready: boolean;
}

export interface MetricsServer {
  /** The address actually bound (the port chosen for port 0). */
  address: ListenAddress;
  close(): Promise<void>;
}

export async function serveMetrics(addr: ListenAddress, endpoint: MetricsEndpoint, onError: (e: unknown) => void = () => {}): Promise<MetricsServer> {
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://kfn');
    const send = (status: number, type: string, body: string): void => {
      res.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(body) });
      res.end(req.method === 'HEAD' ? undefined : body);
    };
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(405, 'text/plain', 'only GET and HEAD\n');
    switch (url.pathname) {
      case '/metrics':
        endpoint.render().then(
          (text) => send(200, endpoint.contentType, text),
          (e: unknown) => {
            onError(e);
            send(500, 'text/plain', `cannot render metrics: ${e instanceof Error ? e.message : String(e)}\n`);
          },
        );
        return;
      case '/healthz':
        return send(200, 'text/plain', 'ok\n');
      case '/ready':
        return endpoint.ready ? send(200, 'text/plain', 'ready\n') : send(503, 'text/plain', 'not ready: the live state has not been read yet\n');
      default:
        return send(404, 'text/plain', 'not found: /metrics, /healthz, /ready\n');
    }
  });
  await new Promise<void>((resolve, reject) => {
    const failed = (e: NodeJS.ErrnoException): void => {
      reject(
        new KfnError('METRICS_LISTEN', `cannot listen on ${addr.host}:${addr.port}: ${e.code ?? e.message}`, {
          hint: e.code === 'EADDRINUSE' ? 'another process uses this port: pick another --metrics-addr' : 'check the address of --metrics-addr',
        }),
      );
    };
    server.once('error', failed);
    server.listen(addr.port, addr.host, () => {
      server.off('error', failed);
      resolve();
    });
  });
  const bound = server.address() as net.AddressInfo;
  return {
    address: { host: bound.address, port: bound.port },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
