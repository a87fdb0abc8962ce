import { describeError } from '../model/errors.js';
import type { Logger } from '../model/logger.js';

/**
 * Where a PBX event enters callpop. While the adapter fetches the PBX's channel list after a
 * (re)connect, live events are held and replayed after the list, so the tracker never sees
 * an event older than its resync. Each event is handled in isolation: an exception from the
 * normaliser or a listener downstream is logged and the event skipped, never thrown into the
 * socket's data handler (which would take the whole daemon down).
 */
export class ResyncGate<T> {
  private held: T[] | null = null;
  private dropped = 0;

  constructor(
    private readonly deliver: (item: T) => void,
    private readonly logger: Logger,
    /** Events held at most during one resync; later ones are dropped (and counted once). */
    private readonly maxHeld = 100_000,
  ) {}

  push(item: T): void {
    if (!this.held) return this.safeDeliver(item);
    if (this.held.length < this.maxHeld) this.held.push(item);
    else this.dropped += 1;
  }

  /** Starts holding events (a resync begins). */
  hold(): void {
    this.held ??= [];
  }

  /** Replays what was held, in order, and lets events through again (the resync is over). */
  release(): void {
    const held = this.held ?? [];
    this.held = null;
    if (this.dropped > 0) {
      this.logger.warn({ dropped: this.dropped, maxHeld: this.maxHeld }, 'PBX events dropped while resyncing (more than the hold bound arrived)');
      this.dropped = 0;
    }
    for (const item of held) this.safeDeliver(item);
  }

  private safeDeliver(item: T): void {
    try {
      this.deliver(item);
    } catch (err) {
      this.logger.error({ err: describeError(err) }, 'PBX event could not be processed; skipped');
    }
  }
}
