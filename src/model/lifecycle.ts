/**
 * What every long-lived part of the daemon implements (PBX intake, pop stage, hub, store,
 * write-back, lookup). The daemon starts them in order and stops them in reverse, so
 * shutdown and reload are a loop over this interface, not a hand-written script.
 */
export interface Lifecycle {
  /** Names the component in logs ("hub", "pops", "store"). */
  readonly name: string;
  /** Acquires what the component needs (sockets, timers). Throws a CallpopError when it cannot. */
  start(): Promise<void>;
  /**
   * Releases everything. Work still pending at `deadline` (ms since the epoch) is
   * abandoned, so a stop always ends. Never throws; problems are logged.
   */
  stop(deadline: number): Promise<void>;
}

/** Resolves when `work` does or when `deadline` passes, whichever is first. */
export async function untilDeadline(work: Promise<unknown>, deadline: number): Promise<'done' | 'timeout'> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => resolve('timeout'), Math.max(0, deadline - Date.now()));
    timer.unref();
  });
  try {
    return await Promise.race([work.then(() => 'done' as const, () => 'done' as const), timeout]);
  } finally {
    clearTimeout(timer);
  }
}
