/** What attacher.ts and attach-thread.ts exchange. */
import type { Attachment, TcPosition, XdpMode } from '../../core/types.js';
import type { Attached } from './attach.js';

export interface AttachRequest {
  id: number;
  dir: string;
  attachment: Attachment;
  mode: XdpMode;
  position: TcPosition;
}

export type AttachReply = { id: number; attached: Attached } | { id: number; error: { code: string; message: string; hint?: string } };

/** The shared words: which side owns the requests, and how many replies were posted. */
export const THREAD_STATE = { word: 0, replies: 1, starting: 0, running: 1, abandoned: 2 } as const;
