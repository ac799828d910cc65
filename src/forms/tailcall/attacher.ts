/**
 * Attaches new XDP roots on a thread of its own while the apply goes on loading. Every
 * XDP program the kernel has not seen joins its XDP dispatcher, and the attach waits for
 * an RCU grace period (about 13 ms here, for each of the first 48): 0.6 s of a 100-chain
 * deploy spent asleep. The roots this runs are new and empty (they pass every packet
 * until their chain is switched on at the commit), so nothing waits on them until then.
 *
 * The thread's replies are taken synchronously (Atomics.wait on a shared counter, then
 * receiveMessageOnPort): the engine's apply never yields to the event loop. A thread
 * that does not come up in time is abandoned, and its requests run here instead.
 */
import fs from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { MessageChannel, Worker, receiveMessageOnPort, type MessagePort } from 'node:worker_threads';
import { KfnError } from '../../core/errors.js';
import type { RunContext } from '../form.js';
import { attachRoot, type Attached } from './attach.js';
import { THREAD_STATE, type AttachReply, type AttachRequest } from './attach-protocol.js';

const START_TIMEOUT_MS = 10_000;

interface Pending {
  request: AttachRequest;
  then: (a: Attached) => void;
}

/** Where the thread's code is: beside the bundle (dist/cli/kfn.cjs), or the sources run through tsx. */
function spawn(port: MessagePort, words: Int32Array): Worker {
  const workerData = { port, words };
  const options = { workerData, transferList: [port] };
  const here = import.meta.url;
  if (here.endsWith('.ts')) {
    const entry = new URL('./attach-thread.ts', here).href;
    const tsx = pathToFileURL(createRequire(here).resolve('tsx/esm/api')).href;
    return new Worker(`import(${JSON.stringify(tsx)}).then((t) => { t.register(); return import(${JSON.stringify(entry)}); })`, { ...options, eval: true });
  }
  const bundled = new URL('./attach-thread.cjs', here);
  if (!fs.existsSync(bundled)) throw new KfnError('APPLY_FAILED', `this installation has no ${fileURLToPath(bundled)}`, { hint: 'reinstall kfn (npm run build)' });
  return new Worker(bundled, options);
}

/** One attacher per run: what its attaches wait on is that run's settle(). */
const attachers = new WeakMap<RunContext, Attacher>();

export function attacherOf(ctx: RunContext): Attacher {
  let a = attachers.get(ctx);
  if (!a) attachers.set(ctx, (a = new Attacher()));
  return a;
}

export function settleAttaches(ctx: RunContext): void {
  attachers.get(ctx)?.settle();
}

export class Attacher {
  private worker: Worker | undefined;
  private port: MessagePort | undefined;
  private words = new Int32Array(new SharedArrayBuffer(8));
  private pending = new Map<number, Pending>();
  private nextId = 1;
  private startedAt = 0;
  private failures: KfnError[] = [];

  /** Starts attachRoot for a new chain; `then` runs on this thread once it is done, at the latest in settle(). */
  attach(request: Omit<AttachRequest, 'id'>, then: (a: Attached) => void): void {
    if (!this.worker) this.start();
    const r = { ...request, id: this.nextId++ };
    this.pending.set(r.id, { request: r, then });
    this.worker!.postMessage(r);
  }

  /** Waits for every attach started, runs their `then`, stops the thread; throws the first failure. */
  settle(): void {
    try {
      while (this.pending.size) this.takeReplies();
    } finally {
      this.stop();
    }
    const [first] = this.failures;
    this.failures = [];
    if (first) throw first;
  }

  private start(): void {
    const channel = new MessageChannel();
    this.words = new Int32Array(new SharedArrayBuffer(8));
    this.port = channel.port1;
    this.worker = spawn(channel.port2, this.words);
    // Its own errors come as replies; this only keeps an unexpected one from ending the process.
    this.worker.on('error', () => {});
    this.worker.unref();
    this.startedAt = Date.now();
  }

  private stop(): void {
    void this.worker?.terminate();
    this.port?.close();
    this.worker = undefined;
    this.port = undefined;
  }

  private takeReplies(): void {
    const seen = Atomics.load(this.words, THREAD_STATE.replies);
    for (let m = receiveMessageOnPort(this.port!); m; m = receiveMessageOnPort(this.port!)) this.finish(m.message as AttachReply);
    if (!this.pending.size) return;
    if (Atomics.load(this.words, THREAD_STATE.word) === THREAD_STATE.starting && Date.now() - this.startedAt > START_TIMEOUT_MS) {
      if (Atomics.compareExchange(this.words, THREAD_STATE.word, THREAD_STATE.starting, THREAD_STATE.abandoned) === THREAD_STATE.starting) return this.runHere();
    }
    Atomics.wait(this.words, THREAD_STATE.replies, seen, 1000);
  }

  private finish(reply: AttachReply): void {
    const p = this.pending.get(reply.id);
    if (!p) return;
    this.pending.delete(reply.id);
    if ('error' in reply) this.failures.push(new KfnError(reply.error.code, reply.error.message, { hint: reply.error.hint }));
    else this.complete(p, reply.attached);
  }

  private complete(p: Pending, attached: Attached): void {
    try {
      p.then(attached);
    } catch (e) {
      this.fail(e);
    }
  }

  private fail(e: unknown): void {
    this.failures.push(e instanceof KfnError ? e : new KfnError('APPLY_FAILED', String(e)));
  }

  /** The thread never came up: this thread attaches what it was asked. */
  private runHere(): void {
    for (const p of [...this.pending.values()]) {
      this.pending.delete(p.request.id);
      try {
        this.complete(p, attachRoot(p.request.dir, p.request.attachment, p.request.mode, p.request.position));
      } catch (e) {
        this.fail(e);
      }
    }
  }
}
