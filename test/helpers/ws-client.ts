import { WebSocket } from 'ws';

export interface Received {
  type: string;
  seq: number;
  [key: string]: unknown;
}

/** A test agent client: records every message and waits for the ones a test expects. */
export class TestAgentClient {
  readonly messages: Received[] = [];
  closeCode: number | null = null;
  private readonly waiters: { match: (m: Received) => boolean; resolve: (m: Received) => void }[] = [];
  private closedWaiters: ((code: number) => void)[] = [];

  private constructor(readonly socket: WebSocket) {
    socket.on('message', (data) => {
      const message = JSON.parse(data.toString()) as Received;
      this.messages.push(message);
      for (const waiter of [...this.waiters]) {
        if (waiter.match(message)) {
          this.waiters.splice(this.waiters.indexOf(waiter), 1);
          waiter.resolve(message);
        }
      }
    });
    socket.on('close', (code) => {
      this.closeCode = code;
      for (const w of this.closedWaiters) w(code);
      this.closedWaiters = [];
    });
    socket.on('error', () => {});
  }

  static async connect(url: string): Promise<TestAgentClient> {
    const socket = new WebSocket(url);
    await new Promise<void>((resolve, reject) => {
      socket.once('open', () => resolve());
      socket.once('error', reject);
    });
    return new TestAgentClient(socket);
  }

  /** Connects, says hello with `token` and subscribes to `agents`; resolves after `subscribed`. */
  static async subscribed(url: string, token: string, agents: string[]): Promise<TestAgentClient> {
    const client = await TestAgentClient.connect(url);
    client.send({ type: 'hello', v: 1, token });
    await client.next((m) => m.type === 'welcome');
    client.send({ type: 'subscribe', agents });
    await client.next((m) => m.type === 'subscribed');
    return client;
  }

  send(message: unknown): void {
    this.socket.send(typeof message === 'string' ? message : JSON.stringify(message));
  }

  /** The first message (already received or future) matching `match`. */
  next(match: (m: Received) => boolean, timeoutMs = 5000): Promise<Received> {
    const seen = this.messages.find(match);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no matching message within ${timeoutMs} ms; got ${JSON.stringify(this.messages.map((m) => m.type))}`)), timeoutMs);
      this.waiters.push({
        match,
        resolve: (m) => {
          clearTimeout(timer);
          resolve(m);
        },
      });
    });
  }

  closed(timeoutMs = 5000): Promise<number> {
    if (this.closeCode !== null) return Promise.resolve(this.closeCode);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('socket did not close')), timeoutMs);
      this.closedWaiters.push((code) => {
        clearTimeout(timer);
        resolve(code);
      });
    });
  }

  close(): void {
    this.socket.terminate();
  }
}
