/** Hands each item to `send` `atMs` after the start (in order of `atMs`), in real time. */
export async function playTimed<T extends { atMs: number }>(items: readonly T[], send: (item: T) => void): Promise<void> {
  const sorted = [...items].sort((a, b) => a.atMs - b.atMs);
  const start = Date.now();
  for (const item of sorted) {
    const wait = item.atMs - (Date.now() - start);
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    send(item);
  }
}
