import type net from 'node:net';
import { AmiSimulator } from '../../src/sim/ami-simulator.js';
import { AMI_SECRET, AMI_USER } from './daemon-process.js';

/**
 * The AMI simulator as the benchmarks' PBX, with TCP_NODELAY on its sockets.
 *
 * Without it, the simulator's small writes meet Nagle's algorithm on its side and the
 * daemon's delayed ACKs on the other: a write that follows an unacknowledged one waits up
 * to ~40 ms (Linux's delayed-ACK timer). Measured on this bench: p99 35 ms for the raw
 * relay as well as for callpop. That delay belongs to the PBX's socket, not to callpop, so
 * the benchmark turns it off to see what callpop itself adds. (The simulator's server is
 * private; a second 'connection' listener is the least intrusive hook.)
 */
export async function startBenchSimulator(): Promise<{ sim: AmiSimulator; port: number }> {
  const sim = new AmiSimulator({ username: AMI_USER, secret: AMI_SECRET });
  const server = (sim as unknown as { server?: net.Server }).server;
  server?.on('connection', (socket: net.Socket) => socket.setNoDelay(true));
  const port = await sim.listen(0, '127.0.0.1');
  return { sim, port };
}
