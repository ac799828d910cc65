/**
 * The thread that attaches new XDP roots (attacher.ts starts it). Each request is one
 * attachRoot; its reply goes to the port it was given, then the reply counter moves and
 * wakes the waiting thread. The thread takes requests only after it has claimed the
 * state word: a thread that comes up after its caller gave up on it does nothing.
 */
import { workerData, parentPort, type MessagePort } from 'node:worker_threads';
import { attachRoot } from './attach.js';
import { THREAD_STATE, type AttachReply, type AttachRequest } from './attach-protocol.js';

const { port, words } = workerData as { port: MessagePort; words: Int32Array };

if (Atomics.compareExchange(words, THREAD_STATE.word, THREAD_STATE.starting, THREAD_STATE.running) === THREAD_STATE.starting) {
  parentPort!.on('message', (r: AttachRequest) => {
    let reply: AttachReply;
    try {
      reply = { id: r.id, attached: attachRoot(r.dir, r.attachment, r.mode, r.position) };
    } catch (e) {
      const k = e as { code?: unknown; message?: unknown; hint?: unknown };
      reply = { id: r.id, error: { code: typeof k.code === 'string' ? k.code : 'APPLY_FAILED', message: String(k.message ?? e), hint: typeof k.hint === 'string' ? k.hint : undefined } };
    }
    port.postMessage(reply);
    Atomics.add(words, THREAD_STATE.replies, 1);
    Atomics.notify(words, THREAD_STATE.replies);
  });
}
