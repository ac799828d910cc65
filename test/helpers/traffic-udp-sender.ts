/**
 * A bounded UDP sender, run as its own process inside a network namespace:
 *
 *   ip netns exec NS node --import tsx test/helpers/traffic-udp-sender.ts HOST PORT PPS MAX_MS [SRC]
 *
 * Sends small datagrams to HOST:PORT (IPv4 or IPv6; from source address SRC when given)
 * at about PPS packets per second until SIGTERM,
 * SIGINT or MAX_MS, whichever comes first. Prints `{"event":"started"}` once the first
 * datagram left, and at the end `{"event":"done","sent":N,"failed":F,"ms":T}` where N
 * counts only datagrams the kernel accepted (send callback without error).
 */
import dgram from 'node:dgram';

const [host = '127.0.0.1', portArg = '9', ppsArg = '5000', maxMsArg = '30000', src] = process.argv.slice(2);
const port = Number(portArg);
const pps = Math.max(1, Number(ppsArg));
const maxMs = Math.min(Number(maxMsArg), 120_000);
const burst = Math.max(1, Math.round(pps / 1000));

const sock = dgram.createSocket(host.includes(':') ? 'udp6' : 'udp4');
if (src) sock.bind({ address: src, port: 0 });
const payload = Buffer.alloc(32, 0x6b);
let sent = 0;
let failed = 0;
let pending = 0;
let stopping = false;
let started = false;
let finished = false;
const t0 = Date.now();

function finish(): void {
  if (finished) return;
  finished = true;
  process.stdout.write(JSON.stringify({ event: 'done', sent, failed, ms: Date.now() - t0 }) + '\n');
  sock.close();
}

function stop(): void {
  stopping = true;
  clearInterval(timer);
  if (pending === 0) finish();
}

const timer = setInterval(() => {
  if (stopping) return;
  if (Date.now() - t0 >= maxMs) return stop();
  for (let i = 0; i < burst; i++) {
    pending++;
    sock.send(payload, port, host, (err) => {
      pending--;
      if (err) failed++;
      else sent++;
      if (!started && sent > 0) {
        started = true;
        process.stdout.write(JSON.stringify({ event: 'started' }) + '\n');
      }
      if (stopping && pending === 0) finish();
    });
  }
}, 1);

process.on('SIGTERM', stop);
process.on('SIGINT', stop);
// Hard stop should a callback never come back.
setTimeout(() => {
  finish();
  process.exit(0);
}, maxMs + 5_000).unref();
