import net from 'node:net';

/**
 * A TCP relay on 127.0.0.1 in front of a PBX simulator. Closed, it refuses callpop's
 * connections at once (the daemon keeps retrying with its backoff); open, it relays bytes
 * both ways. A test closes it across a restart to choose when the restarted daemon reaches
 * the PBX (and resyncs): after an agent has subscribed, so the agent sees what the resync
 * changes. Sockets already relayed are left alone.
 */
export class TcpGate {
  private readonly server: net.Server;
  private readonly sockets = new Set<net.Socket>();
  private isOpen = true;

  constructor(private readonly targetPort: number) {
    this.server = net.createServer((socket) => this.accept(socket));
  }

  listen(): Promise<number> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(0, '127.0.0.1', () => {
        const address = this.server.address();
        resolve(typeof address === 'object' && address ? address.port : 0);
      });
    });
  }

  open(): void {
    this.isOpen = true;
  }

  close(): void {
    this.isOpen = false;
  }

  async stop(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private accept(socket: net.Socket): void {
    socket.on('error', () => {});
    if (!this.isOpen) {
      socket.destroy();
      return;
    }
    socket.setNoDelay(true);
    const upstream = net.connect(this.targetPort, '127.0.0.1');
    upstream.setNoDelay(true);
    upstream.on('error', () => socket.destroy());
    socket.on('close', () => upstream.destroy());
    upstream.on('close', () => socket.destroy());
    this.sockets.add(socket).add(upstream);
    socket.once('close', () => this.sockets.delete(socket));
    upstream.once('close', () => this.sockets.delete(upstream));
    socket.pipe(upstream);
    upstream.pipe(socket);
  }
}
