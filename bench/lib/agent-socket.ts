import { WebSocket } from 'ws';

/**
 * A lean agent client for load: unlike test/helpers/ws-client.ts it keeps no message log
 * (10,000 of them, or 100,000 pops, must not grow the bench process's memory).
 */

/** Opens a WebSocket; rejects after `timeoutMs`. */
export function openSocket(url: string, timeoutMs = 10_000): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(url, { perMessageDeflate: false });
    const timer = setTimeout(() => {
      socket.terminate();
      reject(new Error(`WebSocket ${url} did not open within ${timeoutMs} ms`));
    }, timeoutMs);
    socket.once('open', () => {
      clearTimeout(timer);
      resolve(socket);
    });
    socket.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
}

/** Waits for the first message whose `type` is `type`; rejects after `timeoutMs`. */
function nextOfType(socket: WebSocket, type: string, timeoutMs: number): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      socket.off('message', onMessage);
      reject(new Error(`no ${type} within ${timeoutMs} ms`));
    }, timeoutMs);
    const onMessage = (data: Buffer): void => {
      const message = JSON.parse(data.toString()) as Record<string, unknown>;
      if (message['type'] === 'error') {
        clearTimeout(timer);
        socket.off('message', onMessage);
        reject(new Error(`hub error: ${String(message['message'])}`));
      } else if (message['type'] === type) {
        clearTimeout(timer);
        socket.off('message', onMessage);
        resolve(message);
      }
    };
    socket.on('message', onMessage);
  });
}

/** Connects, says hello, subscribes to `agents`; resolves with the socket once subscribed. */
export async function connectAgent(url: string, token: string, agents: string[], timeoutMs = 10_000): Promise<WebSocket> {
  const socket = await openSocket(url, timeoutMs);
  socket.on('error', () => {});
  try {
    const welcome = nextOfType(socket, 'welcome', timeoutMs);
    socket.send(JSON.stringify({ type: 'hello', v: 1, token }));
    await welcome;
    const subscribed = nextOfType(socket, 'subscribed', timeoutMs);
    socket.send(JSON.stringify({ type: 'subscribe', agents }));
    await subscribed;
    return socket;
  } catch (err) {
    socket.terminate();
    throw err;
  }
}

/**
 * Opens `count` sockets with `open(i)`, `concurrency` at a time, within `deadlineMs`.
 * Resolves with the ones that opened and the first error, never throws.
 */
export async function openMany(
  count: number,
  open: (i: number) => Promise<WebSocket>,
  options: { concurrency: number; deadlineMs: number },
): Promise<{ sockets: WebSocket[]; error: string | null; elapsedMs: number }> {
  const sockets: WebSocket[] = [];
  let error: string | null = null;
  let next = 0;
  const start = performance.now();
  const worker = async (): Promise<void> => {
    while (next < count && error === null && performance.now() - start < options.deadlineMs) {
      const i = next++;
      try {
        sockets.push(await open(i));
      } catch (err) {
        error ??= `socket ${i}: ${(err as Error).message}`;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(options.concurrency, count) }, () => worker()));
  if (error === null && sockets.length < count) error = `only ${sockets.length} of ${count} sockets opened within ${options.deadlineMs} ms`;
  return { sockets, error, elapsedMs: performance.now() - start };
}

/** Terminates sockets and waits (bounded) until they are all closed. */
export async function closeAll(sockets: readonly WebSocket[], timeoutMs = 5_000): Promise<void> {
  const closed = sockets.map(
    (s) =>
      new Promise<void>((resolve) => {
        if (s.readyState === WebSocket.CLOSED) return resolve();
        s.once('close', () => resolve());
        s.terminate();
      }),
  );
  await Promise.race([Promise.all(closed), new Promise((r) => setTimeout(r, timeoutMs).unref())]);
}
