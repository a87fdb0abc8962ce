import assert from 'node:assert/strict';
import { chromium, type Browser } from 'playwright-core';
import { deliverable, type Deliverable } from '../src/hub/deliverable.js';
import { hubConfigSchema, type HubConfig } from '../src/hub/hub-config.js';
import { HubServer } from '../src/hub/hub-server.js';
import { withSchemaDefaults } from '../src/config/schema-ajv.js';
import { silentLogger } from '../src/model/logger.js';
import { requireBinary } from './helpers/require-server.js';

const CHROMIUM_FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'];
const TOKEN = 'reconnect-page-token';

function ringingSnapshot(callId: string): Deliverable {
  return deliverable('1001', {
    type: 'pop', callId, pbx: 'pbx-a', agent: '1001', direction: 'inbound',
    caller: { number: '+4930123456', name: 'Erika Mustermann' }, callee: { number: '1001', name: null },
    anonymous: false, queue: null, did: null, transferredFrom: null, pending: false,
    template: 'default', fields: { name: 'Erika Mustermann' }, links: {}, matches: [], selected: 0, at: 1,
    snapshot: true, state: 'ringing',
  });
}

describe('agent page reconnecting to a new session (daemon restart without a reload)', function () {
  this.timeout(30_000);
  let browser: Browser;
  let hub: HubServer | null = null;

  before(async function () {
    const executablePath = requireBinary(this, 'chromium', ['/usr/bin/chromium', '/usr/bin/chromium-browser']);
    browser = await chromium.launch({ executablePath, args: CHROMIUM_FLAGS });
  });
  after(async () => {
    await hub?.stop(Date.now() + 2000);
    await browser?.close();
  });

  async function startHub(port: number, snapshot: Deliverable[]): Promise<HubServer> {
    const config = withSchemaDefaults<HubConfig>(hubConfigSchema, { host: '127.0.0.1', port, tokens: [{ token: TOKEN, agents: ['1001'] }] });
    const server = new HubServer({ config, logger: silentLogger, snapshot: () => snapshot });
    await server.start();
    return server;
  }

  for (const listedAgain of [false, true]) {
    it(listedAgain ? 'keeps a card the new snapshot lists again' : 'closes a card the new snapshot no longer lists (the call ended while away)', async () => {
      hub = await startHub(0, [ringingSnapshot('call-x')]);
      const port = hub.port;
      const page = await browser.newPage();
      try {
        await page.goto(`http://127.0.0.1:${port}/?token=${TOKEN}&agents=1001`);
        await page.waitForSelector('.pop[data-call="call-x"][data-state="ringing"]', { timeout: 10_000 });
        await hub.stop(Date.now() + 2000);
        hub = await startHub(port, listedAgain ? [ringingSnapshot('call-x')] : []);
        // The old session is unknown to the new hub: the page gets a new one, a snapshot, then `subscribed`.
        await page.waitForSelector('#status[data-synced="2"]', { timeout: 15_000 });
        const state = await page.getAttribute('.pop[data-call="call-x"]', 'data-state');
        assert.equal(state, listedAgain ? 'ringing' : 'ended');
      } finally {
        await page.close();
        await hub.stop(Date.now() + 2000);
        hub = null;
      }
    });
  }
});
