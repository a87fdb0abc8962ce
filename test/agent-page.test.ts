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
  let cspViolations: string[];

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
    cspViolations = [];
    page.on('console', (m) => {
      if (/Content Security Policy/i.test(m.text())) cspViolations.push(m.text());
    });
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

  it('runs its script and styles under a CSP without unsafe-inline, with no violation', async () => {
    assert.deepEqual(cspViolations, []);
    const headerBackground = await page.evaluate(() => getComputedStyle(document.querySelector('header') as Element).backgroundColor);
    assert.equal(headerBackground, 'rgb(29, 35, 48)', 'agent.css was not applied');
  });

  it('neutralises bidirectional overrides and control characters in caller text (displayText)', async () => {
    const cases: [string, string][] = [
      ['Erika Mustermann', 'Erika Mustermann'],
      ['\u202E6543 21 03 94+', '\uFFFD6543 21 03 94+'],
      ['a\u202Ab\u202Bc\u202Cd\u202De', 'a\uFFFDb\uFFFDc\uFFFDd\uFFFDe'],
      ['\u2066x\u2067y\u2068z\u2069', '\uFFFDx\uFFFDy\uFFFDz\uFFFD'],
      ['line1\nline2\r\tend', 'line1 line2  end'],
      ['nul\u0000bel\u0007esc\u001Bdel\u007Fc1\u0085\u009B', 'nul\uFFFDbel\uFFFDesc\uFFFDdel\uFFFDc1 \uFFFD'],
      ['\u05D3\u05D5\u05D3 (Hebrew stays)', '\u05D3\u05D5\u05D3 (Hebrew stays)'],
      ['', ''],
    ];
    const got = await page.evaluate((inputs) => inputs.map((i) => (window as unknown as { callpop: { displayText(v: unknown): string } }).callpop.displayText(i)), cases.map((c) => c[0]));
    assert.deepEqual(got, cases.map((c) => c[1]));
    const nonStrings = await page.evaluate(() => [12345, true].map((v) => (window as unknown as { callpop: { displayText(v: unknown): string } }).callpop.displayText(v)));
    assert.deepEqual(nonStrings, ['12345', 'true']);
  });

  it('shows a caller name with a right-to-left override without reordering it', async () => {
    const spoof = 'Bank\u202E1234';
    sim.send(scenarioBytes(inboundAnsweredCall({ callerNumber: '+4917600000002', callerName: spoof, agent: '1001', seq: 3, answerAfterMs: 0, talkMs: 0 })));
    await page.waitForSelector('.pop', { timeout: 10_000 });
    const shown = (await page.textContent('.pop .caller')) ?? '';
    assert.equal(shown, 'Bank\uFFFD1234');
    assert.doesNotMatch(shown, /[\u202A-\u202E\u2066-\u2069]/);
  });
});
