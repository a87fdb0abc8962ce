import type { WebSocket } from 'ws';
import type { HubToken } from './hub-config.js';
import { PROTOCOL_VERSION } from './protocol.js';

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

  constructor(
    readonly id: string,
    readonly token: HubToken,
    private readonly maxBuffered: number,
  ) {}

  get lastSeq(): number {
    return this.seq;
  }

  /**
   * Stamps a message with `v` and the next `seq` and returns its text. `body` is the message
   * already serialised without the envelope: splicing the envelope in front means a pop
   * fanned out to thousands of sessions is serialised once, not once per session.
   */
  stamp(body: string): string {
    this.seq += 1;
    const text = `{"v":${PROTOCOL_VERSION},"seq":${this.seq},${body.slice(1)}`;
    if (this.maxBuffered > 0) {
      this.buffer.push({ seq: this.seq, text });
      if (this.buffer.length > this.maxBuffered) this.buffer.shift();
    }
    return text;
  }

  /** Buffered messages after `seq`, or null when some of them are no longer buffered. */
  since(seq: number): string[] | null {
    if (seq >= this.seq) return [];
    const first = this.buffer[0];
    if (!first || first.seq > seq + 1) return null;
    return this.buffer.filter((m) => m.seq > seq).map((m) => m.text);
  }

  /** Drops acknowledged messages from the replay buffer. */
  ack(seq: number): void {
    while (this.buffer.length > 0 && (this.buffer[0]?.seq ?? Infinity) <= seq) this.buffer.shift();
  }
}
