/**
 * A TCP/UDP peer run as its own process inside a network namespace, driven over stdin:
 *
 *   ip netns exec NS node --import tsx test/helpers/net-peer-main.ts
 *
 * One command per line, one JSON reply per line ({"ok":true,...} or {"ok":false,"error":...}):
 *   listen PORT             accept TCP connections on PORT; an accepted connection is closed
 *                           as soon as its peer closes it
 *   open HOST PORT MS       connect, giving up after MS milliseconds; replies with its id
 *   close ID                close connection ID; replies once it is fully closed
 *   cycle HOST PORT N       N connections one after the other, each opened then closed
 *   udp HOST PORT N [SRC]   N datagrams (from source address SRC); replies once the kernel took them
 *   ulisten PORT            count UDP datagrams to PORT (IPv4 and IPv6) per source address
 *   ucount PORT             replies with {counts: {source: datagrams}} of a ulisten port
 *   quit                    close everything and exit
 * Destinations are limited to the test ranges 198.18.0.0/15 and 2001:2::/48.
 */
import dgram from 'node:dgram';
import net from 'node:net';
import readline from 'node:readline';

const conns = new Map<number, net.Socket>();
const servers: net.Server[] = [];
const udpServers = new Map<number, { sockets: dgram.Socket[]; counts: Record<string, number> }>();
let nextId = 1;

function reply(o: Record<string, unknown>): void {
  process.stdout.write(JSON.stringify(o) + '\n');
}

function checkHost(host: string): void {
  if (!/^198\.1[89]\.|^2001:2:/.test(host)) throw new Error(`refusing to send to ${host}: tests only use 198.18.0.0/15 and 2001:2::/48`);
}

function open(host: string, port: number, ms: number): Promise<number> {
  checkHost(host);
  return new Promise((resolve, reject) => {
    const s = net.connect({ host, port });
    const timer = setTimeout(() => {
      s.destroy();
      reject(new Error('timeout'));
    }, ms);
    s.once('connect', () => {
      clearTimeout(timer);
      const id = nextId++;
      conns.set(id, s);
      s.on('error', () => {});
      resolve(id);
    });
    s.once('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
  });
}

function close(id: number): Promise<void> {
  const s = conns.get(id);
  if (!s) return Promise.reject(new Error(`no connection ${id}`));
  conns.delete(id);
  return new Promise((resolve) => {
    s.once('close', () => resolve());
    s.end();
  });
}

async function udp(host: string, port: number, n: number, src?: string): Promise<number> {
  checkHost(host);
  const sock = dgram.createSocket(host.includes(':') ? 'udp6' : 'udp4');
  if (src) await new Promise<void>((resolve, reject) => {
    sock.once('error', reject);
    sock.bind({ address: src, port: 0 }, () => resolve());
  });
  let sent = 0;
  return new Promise((resolve, reject) => {
    for (let i = 0; i < n; i++) {
      sock.send(Buffer.alloc(16, 0x6b), port, host, (err) => {
        if (err) {
          sock.close();
          reject(err);
          return;
        }
        if (++sent === n) {
          sock.close();
          resolve(sent);
        }
      });
    }
  });
}

async function run(line: string): Promise<Record<string, unknown>> {
  const [cmd, ...a] = line.trim().split(/\s+/);
  switch (cmd) {
    case 'listen': {
      const server = net.createServer((s) => {
        s.on('error', () => {});
        s.on('end', () => s.end());
      });
      servers.push(server);
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(Number(a[0]), '0.0.0.0', () => resolve());
      });
      return { ok: true };
    }
    case 'open':
      return { ok: true, id: await open(a[0]!, Number(a[1]), Number(a[2])) };
    case 'close':
      await close(Number(a[0]));
      return { ok: true };
    case 'cycle': {
      const n = Math.min(Number(a[2]), 1000);
      for (let i = 0; i < n; i++) await close(await open(a[0]!, Number(a[1]), 5000));
      return { ok: true, done: n };
    }
    case 'udp':
      return { ok: true, sent: await udp(a[0]!, Number(a[1]), Math.min(Number(a[2]), 10_000), a[3]) };
    case 'ulisten': {
      const port = Number(a[0]);
      const entry = { sockets: [] as dgram.Socket[], counts: {} as Record<string, number> };
      for (const [type, address] of [['udp4', '0.0.0.0'], ['udp6', '::']] as const) {
        const sock = dgram.createSocket({ type, ipv6Only: type === 'udp6' });
        sock.on('message', (_m, rinfo) => void (entry.counts[rinfo.address] = (entry.counts[rinfo.address] ?? 0) + 1));
        const bound = await new Promise<boolean>((resolve, reject) => {
          // A namespace with IPv6 turned off has no IPv6 to listen on: IPv4 only then.
          sock.once('error', (e) => (type === 'udp6' ? resolve(false) : reject(e)));
          sock.bind(port, address, () => resolve(true));
        });
        if (bound) entry.sockets.push(sock);
        else sock.close();
      }
      udpServers.set(port, entry);
      return { ok: true };
    }
    case 'ucount': {
      const entry = udpServers.get(Number(a[0]));
      if (!entry) return { ok: false, error: `no ulisten on port ${a[0]}` };
      return { ok: true, counts: { ...entry.counts } };
    }
    case 'quit':
      for (const s of conns.values()) s.destroy();
      for (const s of servers) s.close();
      for (const u of udpServers.values()) for (const s of u.sockets) s.close();
      setImmediate(() => process.exit(0));
      return { ok: true };
    default:
      return { ok: false, error: `unknown command ${cmd}` };
  }
}

// Commands run one at a time, in order.
let queue = Promise.resolve();
readline.createInterface({ input: process.stdin }).on('line', (line) => {
  queue = queue.then(() =>
    run(line).then(reply, (e: unknown) => reply({ ok: false, error: e instanceof Error ? e.message : String(e) })),
  );
});
process.stdin.on('end', () => process.exit(0));
reply({ ok: true, ready: true });
