import { readFileSync } from 'node:fs';
import net from 'node:net';
import { WebSocketServer, type WebSocket } from 'ws';

/**
 * The reference for pop latency and fan-out: the least a program can do to turn the PBX's
 * bytes into a WebSocket message. It logs in to the AMI simulator with one plain-text
 * Login, splits the stream at blank lines, and for every `Newstate` with
 * `ChannelStateDesc: Ringing` sends one pop-sized JSON message (the template file, with the
 * event's Linkedid as `callId`) to every connected WebSocket client, no parsing beyond that.
 * No lookup, no mapping, no tracking: the ratio callpop / this is what callpop adds.
 *
 * Run as a child process (like the daemon): `node raw-relay.js <amiPort> <user> <secret> [template.json]`.
 * Prints `{"port":N}` once its WebSocket server listens and it is logged in.
 */

const [portArg, user, secret, templateFile] = process.argv.slice(2);
const template = templateFile ? (JSON.parse(readFileSync(templateFile, 'utf8')) as Record<string, unknown>) : { type: 'pop' };
const clients = new Set<WebSocket>();
const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: false });
wss.on('connection', (socket) => {
  clients.add(socket);
  socket.on('close', () => clients.delete(socket));
  socket.on('error', () => {});
});

const ami = net.connect(Number(portArg), '127.0.0.1');
ami.setNoDelay(true);
let pending = '';
let loggedIn = false;
ami.on('data', (chunk: Buffer) => {
  pending += chunk.toString('utf8');
  let end: number;
  while ((end = pending.indexOf('\r\n\r\n')) >= 0) {
    const block = pending.slice(0, end);
    pending = pending.slice(end + 4);
    if (!loggedIn && block.includes('Authentication accepted')) {
      loggedIn = true;
      announce();
    }
    if (block.startsWith('Event: Newstate') && block.includes('\r\nChannelStateDesc: Ringing')) {
      const linkedid = /\r\nLinkedid: ([^\r]*)/.exec(block)?.[1] ?? '';
      const body = JSON.stringify({ ...template, callId: linkedid });
      for (const client of clients) client.send(body);
    }
  }
});
ami.on('connect', () => ami.write(`Action: Login\r\nUsername: ${user}\r\nSecret: ${secret}\r\nAuthType: plain\r\n\r\n`));
ami.on('error', (err) => {
  console.error(`raw relay: AMI ${err.message}`);
  process.exit(1);
});
ami.on('close', () => process.exit(0));
let listening = false;
wss.on('listening', () => {
  listening = true;
  announce();
});

function announce(): void {
  if (!listening || !loggedIn) return;
  const address = wss.address();
  process.stdout.write(`${JSON.stringify({ port: typeof address === 'object' && address ? address.port : 0 })}\n`);
}

process.on('SIGTERM', () => process.exit(0));
