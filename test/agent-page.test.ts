import assert from 'node:assert/strict';
import { chromium, type Browser, type Page } from 'playwright-core';
import { inboundAnsweredCall, scenarioBytes } from '../src/sim/ami-scenarios.js';
import { AmiSimulator } from '../src/sim/ami-simulator.js';
import { AGENT_TOKEN, DaemonHarness } from './helpers/daemon-harness.js';
import { requireBinary } from './helpers/require-server.js';

const CHROMIUM_FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'];

describe('agent page in headless Chromium', function () {
  let browser: Browser;
  let page: Page;
  let sim: AmiSimulator;
  let harness: DaemonHarness;

  before(async function () {
    const executablePath = requireBinary(this, 'chromium', ['/usr/bin/chromium', '/usr/bin/chromium-browser']);
    browser = await chromium.launch({ executablePath, args: CHROMIUM_FLAGS });
  });
  after(async () => {
    await browser?.close();
  });

  beforeEach(async () => {
    sim = new AmiSimulator({ username: 'callpop', secret: 'page-secret' });
    const port = await sim.listen(0, '127.0.0.1');
    harness = await DaemonHarness.start({
      pbx: { id: 'pbx-a', type: 'asterisk', host: '127.0.0.1', port, username: 'callpop', secret: 'page-secret' },
      mapping: { templates: [{ name: 'default', fields: { name: { expr: "$join([first_name, last_name], ' ')" }, company: 'company' }, links: { crm_url: 'https://crm.example.com/c/{id}' } }] },
    });
    await sim.waitForLogin(5000);
    page = await browser.newPage();
    await page.goto(`http://127.0.0.1:${harness.port}/?token=${AGENT_TOKEN}&agents=1001`);
    await page.waitForFunction(() => document.getElementById('status')?.textContent?.startsWith('connected'), undefined, { timeout: 10_000 });
  });
  afterEach(async () => {
    await page?.close();
    await harness.stop();
    await sim.close();
  });

  it('shows the customer as the phone rings, then the call state', async () => {
    sim.send(scenarioBytes(inboundAnsweredCall({ callerNumber: '+4930123456', callerName: 'Erika Mustermann', agent: '1001', seq: 1, answerAfterMs: 0, talkMs: 0 })));
    await page.waitForSelector('.pop[data-state="ended"]', { timeout: 10_000 });
    assert.equal(await page.textContent('.pop .caller'), 'Erika Mustermann');
    assert.equal(await page.textContent('.pop .number'), '+4930123456');
    const text = await page.textContent('.pop dl');
    assert.match(text ?? '', /Mustermann GmbH/);
    assert.equal(await page.getAttribute('.pop a', 'href'), 'https://crm.example.com/c/C-1001');
  });

  it('renders a hostile caller name as text, never as HTML', async () => {
    const hostile = '<img src=x onerror="window.__pwned=1">';
    sim.send(scenarioBytes(inboundAnsweredCall({ callerNumber: '+4917600000001', callerName: hostile, agent: '1001', seq: 2, answerAfterMs: 0, talkMs: 0 })));
    await page.waitForSelector('.pop', { timeout: 10_000 });
    assert.equal(await page.textContent('.pop .caller'), hostile);
    assert.equal(await page.locator('.pop img').count(), 0);
    assert.equal(await page.evaluate(() => (window as unknown as { __pwned?: number }).__pwned), undefined);
  });
});
