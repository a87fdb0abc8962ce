import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { TestAgentClient } from './helpers/ws-client.js';

/** Everything a child prints on stdout, with a bounded wait for a pattern. */
class Output {
  private text = '';
  constructor(child: ChildProcess) {
    child.stdout?.on('data', (chunk: Buffer) => (this.text += chunk.toString()));
  }

  async waitFor(pattern: RegExp, timeoutMs: number): Promise<RegExpMatchArray> {
    const until = Date.now() + timeoutMs;
    for (;;) {
      const match = pattern.exec(this.text);
      if (match) return match;
      if (Date.now() > until) throw new Error(`no ${pattern} in demo output within ${timeoutMs} ms:\n${this.text}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

describe('callpop demo', () => {
  it('says the port is in use and exits instead of hanging', async () => {
    const blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const port = (blocker.address() as AddressInfo).port;
    try {
      const demo = spawn(process.execPath, ['bin/callpop', 'demo', '--port', String(port)], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, CI: 'true' } });
      let stderr = '';
      demo.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
      const code = await new Promise<number | null>((resolve) => demo.once('exit', resolve));
      assert.equal(code, 1);
      assert.match(stderr, new RegExp(`cannot listen on 127\\.0\\.0\\.1:${port}: the port is in use \\(change hub\\.port`));
    } finally {
      blocker.close();
    }
  });

  let child: ChildProcess | undefined;

  afterEach(() => {
    if (child && child.exitCode === null) child.kill('SIGKILL');
  });

  for (const pbx of ['asterisk', 'freeswitch'] as const) {
    it(`plays a simulated ${pbx} call whose pop reaches the agent page's WebSocket, and stops cleanly on Ctrl-C`, async () => {
      const args = ['bin/callpop', 'demo', '--port', '0', '--interval', '300', '--calls', '3', '--pbx', pbx];
      child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, CI: 'true' } });
      const output = new Output(child);
      const [, port, token, agents] = await output.waitFor(/http:\/\/127\.0\.0\.1:(\d+)\/\?token=([0-9a-f]+)&agents=([0-9,]+)/, 20_000);
      await output.waitFor(pbx === 'freeswitch' ? /a simulated FreeSWITCH plays/ : /a simulated Asterisk plays/, 5000);
      const crm = await output.waitFor(/Sample CRM:\s+(\S+)/, 5000);
      assert.ok(existsSync(crm[1]!), 'the sample CRM was created');

      const agent = await TestAgentClient.subscribed(`ws://127.0.0.1:${port}/ws`, token!, agents!.split(','));
      const pop = await agent.next((m) => m.type === 'pop', 15_000);
      assert.equal(pop.agent, '1001');
      assert.equal((pop.caller as { number: string }).number, '+4930123456');
      assert.equal((pop.fields as { name: string }).name, 'Erika Mustermann');
      const answered = await agent.next((m) => m.type === 'call' && m.callId === pop.callId && m.state === 'answered', 15_000);
      assert.equal(answered.agent, '1001');
      agent.close();

      const exited = new Promise<number | null>((resolve) => child!.once('exit', (code) => resolve(code)));
      child.kill('SIGINT');
      assert.equal(await exited, 0);
      assert.equal(existsSync(crm[1]!), false, 'the demo removes its temporary files');
    });
  }

  it('refuses an unknown --pbx with the choices', async () => {
    const demo = spawn(process.execPath, ['bin/callpop', 'demo', '--pbx', 'cisco'], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, CI: 'true' } });
    let stderr = '';
    demo.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    const code = await new Promise<number | null>((resolve) => demo.once('exit', resolve));
    assert.notEqual(code, 0);
    assert.match(stderr, /--pbx.*cisco.*asterisk, freeswitch/s);
  });
});
