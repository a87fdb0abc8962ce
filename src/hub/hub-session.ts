import type { WebSocket } from 'ws';
import type { HubToken } from './hub-config.js';
import { PROTOCOL_VERSION } from './protocol.js';

/** How much one session keeps for `resume`: whichever bound is reached first. */
export interface ReplayLimits {
  maxMessages: number;
  /** UTF-16 length of the stamped texts, a close enough proxy for bytes to bound memory. */
  maxBytes: number;
}

/**
 * One agent client's session: its subscriptions, its sequence counter and the bounded
 * buffer of recent messages replayed on `resume`. A session outlives its WebSocket for
 * the replay window so a client that reconnects misses nothing.
 */
export class HubSession {
  readonly agents = new Set<string>();
  socket: WebSocket | null = null;
  detachedAt = 0;
  private seq = 0;
  private readonly buffer: { seq: number; text: string }[] = [];
  private bytes = 0;

  constructor(
    readonly id: string,
    readonly token: HubToken,
    private readonly limits: ReplayLimits,
  ) {}

  get lastSeq(): number {
    return this.seq;
  }

  /** Size of the replay buffer (see ReplayLimits.maxBytes). */
  get bufferedBytes(): number {
    return this.bytes;
  }

  get bufferedMessages(): number {
    return this.buffer.length;
  }

  /**
   * Stamps a message with `v` and the next `seq` and returns its text. `body` is the message
   * already serialised without the envelope: splicing the envelope in front means a pop
   * fanned out to thousands of sessions is serialised once, not once per session.
   */
  stamp(body: string): string {
    this.seq += 1;
    const text = `{"v":${PROTOCOL_VERSION},"seq":${this.seq},${body.slice(1)}`;
    // A message bigger than the whole byte budget is not kept: a resume past it gets `resumed: false`.
    if (this.limits.maxMessages > 0 && text.length <= this.limits.maxBytes) {
      this.buffer.push({ seq: this.seq, text });
      this.bytes += text.length;
    }
    while (this.buffer.length > this.limits.maxMessages || this.bytes > this.limits.maxBytes) this.dropOldest();
    return text;
  }

  /**
   * Buffered messages after `seq`, or null when some of them are no longer buffered or `seq`
   * was never sent (a client that claims to be ahead has lost track and must start afresh).
   */
  since(seq: number): string[] | null {
    if (seq > this.seq) return null;
    if (seq === this.seq) return [];
    const missed = this.buffer.filter((m) => m.seq > seq);
    // Contiguous or nothing: an evicted or oversized message leaves a gap replay cannot fill.
    if (missed.length !== this.seq - seq) return null;
    return missed.map((m) => m.text);
  }

  /** Drops acknowledged messages from the replay buffer. */
  ack(seq: number): void {
    while (this.buffer.length > 0 && (this.buffer[0]?.seq ?? Infinity) <= seq) this.dropOldest();
  }

  private dropOldest(): void {
    const dropped = this.buffer.shift();
    if (dropped) this.bytes -= dropped.text.length;
  }
}
