import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import type { EslEvent, EslMessage } from '../src/pbx/freeswitch/esl-codec.js';
import { EslDecoder, encodeCommand, headerText } from '../src/pbx/freeswitch/esl-codec.js';
import { isCallpopError } from '../src/model/errors.js';
import { encodeEventFrame } from '../src/sim/esl-simulator.js';
import { prng } from './helpers/prng.js';

const fixtures = new URL('../../test/fixtures/freeswitch/', import.meta.url);
const capture = (name: string): Buffer => readFileSync(new URL(name, fixtures));

function events(messages: EslMessage[]): EslEvent[] {
  return messages.flatMap((m) => (m.type === 'event' ? [m.event] : []));
}

function decodeAll(bytes: Buffer, sizes: () => number, maxFrameBytes?: number): EslMessage[] {
  const decoder = new EslDecoder({ maxFrameBytes });
  const out: EslMessage[] = [];
  for (let offset = 0; offset < bytes.length; ) {
    const n = Math.max(1, sizes());
    out.push(...decoder.push(bytes.subarray(offset, offset + n)));
    offset += n;
  }
  return out;
}

describe('ESL codec', () => {
  it('reads the auth request, the two command replies and all 110 events of capture 01', () => {
    const out = new EslDecoder().push(capture('01-inbound-answered.esl'));
    assert.equal(out[0]?.type, 'auth-request');
    const replies = out.filter((m) => m.type === 'command-reply');
    assert.deepEqual(
      replies.map((m) => (m.type === 'command-reply' ? m.replyText : '')),
      ['+OK accepted', '+OK event listener enabled plain'],
    );
    assert.equal(events(out).length, 110);
    assert.equal(out.filter((m) => m.type === 'error').length, 0);
  });

  it('decodes %-encoded plain values with decodeURIComponent semantics (a + stays a +)', () => {
    const evs = events(new EslDecoder().push(capture('05-blind-transfer.esl')));
    const create = evs.find((e) => e.name === 'CHANNEL_CREATE');
    assert.equal(create?.headers['Caller-Caller-ID-Number'], '+4940111222');
    assert.equal(create?.headers['Caller-Caller-ID-Name'], 'Jürgen Müller');
    assert.equal(String(create?.headers['Event-Date-Local']).includes(' '), true);
  });

  it('gives the plain and the JSON capture the same events, header for header', () => {
    for (const name of ['01-inbound-answered', '02-inbound-abandoned', '04-outbound-click-to-dial', '05-blind-transfer']) {
      const plain = events(new EslDecoder().push(capture(`${name}.esl`)));
      const json = events(new EslDecoder().push(capture(`${name}.json.esl`)));
      assert.equal(plain.length, json.length, name);
      for (let i = 0; i < plain.length; i++) {
        const p = plain[i]!;
        const j = json[i]!;
        assert.equal(p.name, j.name, `${name} #${i}`);
        assert.equal(p.headers['Unique-ID'], j.headers['Unique-ID'], `${name} #${i}`);
        assert.equal(p.headers['Caller-Caller-ID-Name'], j.headers['Caller-Caller-ID-Name'], `${name} #${i}`);
        assert.equal(p.headers['variable_DP_MATCH'], j.headers['variable_DP_MATCH'], `${name} #${i}`);
        assert.equal(p.body, j.body, `${name} #${i}`);
      }
    }
  });

  it('spells JSON arrays as the plain format does and keeps nested objects as JSON text', () => {
    const body = JSON.stringify({
      'Event-Name': 'CHANNEL_EXECUTE',
      variable_DP_MATCH: ['+4930123456', '1001'],
      variable_odd: { a: 1 },
      'Caller-Caller-ID-Name': 'Erika',
    });
    const out = new EslDecoder().push(Buffer.from(`Content-Length: ${Buffer.byteLength(body)}\nContent-Type: text/event-json\n\n${body}`));
    const [ev] = events(out);
    assert.equal(ev?.headers['variable_DP_MATCH'], 'ARRAY::+4930123456|:1001');
    assert.equal(ev?.headers['variable_odd'], '{"a":1}');
    assert.equal(ev?.headers['Caller-Caller-ID-Name'], 'Erika');
  });

  it('leaves a "[" or "{" inside a string value as it is', () => {
    const headers = { 'Event-Name': 'CHANNEL_CREATE', 'Channel-Name': 'sofia/internal/1001@[fd00::2]', 'Caller-Caller-ID-Name': '{Acme}' };
    const [ev] = events(new EslDecoder().push(encodeEventFrame({ name: 'CHANNEL_CREATE', headers }, 'json')));
    assert.deepEqual(ev?.headers, headers);
  });

  it('keeps numbers, booleans and null from a non-FreeSWITCH JSON peer, read as text by headerText', () => {
    const body = '{"Event-Name":"CHANNEL_CREATE","Caller-Caller-ID-Number":4930123456,"Channel-HIT-Dialplan":true,"Caller-Caller-ID-Name":null}';
    const [ev] = events(new EslDecoder().push(Buffer.from(`Content-Length: ${body.length}\nContent-Type: text/event-json\n\n${body}`)));
    assert.ok(ev);
    assert.equal(headerText(ev.headers, 'Caller-Caller-ID-Number'), '4930123456');
    assert.equal(headerText(ev.headers, 'Channel-HIT-Dialplan'), 'true');
    assert.equal(headerText(ev.headers, 'Caller-Caller-ID-Name'), undefined);
    assert.equal(headerText(ev.headers, 'Missing'), undefined);
  });

  it('reads the inner body of a plain BACKGROUND_JOB event', () => {
    const evs = events(new EslDecoder().push(capture('02-inbound-abandoned.esl')));
    const job = evs.find((e) => e.name === 'BACKGROUND_JOB');
    assert.equal(job?.body, '-ERR ORIGINATOR_CANCEL\n');
  });

  it('reads _body of a JSON BACKGROUND_JOB event as the event body', () => {
    const evs = events(new EslDecoder().push(capture('01-inbound-answered.json.esl')));
    const job = evs.find((e) => e.name === 'BACKGROUND_JOB');
    assert.match(job?.body ?? '', /^\+OK [0-9a-f-]{36}\n$/);
    assert.equal('_body' in (job?.headers ?? {}), false);
  });

  it('counts Content-Length in bytes, so UTF-8 names do not shift the next frame', () => {
    const ev: EslEvent = { name: 'CHANNEL_CREATE', headers: { 'Event-Name': 'CHANNEL_CREATE', 'Caller-Caller-ID-Name': 'Jürgen Müller 🎧' } };
    const bytes = Buffer.concat([encodeEventFrame(ev, 'json'), encodeEventFrame(ev, 'plain'), encodeEventFrame(ev, 'json')]);
    const evs = events(new EslDecoder().push(bytes));
    assert.equal(evs.length, 3);
    for (const e of evs) assert.equal(e.headers['Caller-Caller-ID-Name'], 'Jürgen Müller 🎧');
  });

  it('gives the same events when the capture arrives one byte at a time', () => {
    for (const name of ['01-inbound-answered.esl', '04-outbound-click-to-dial.json.esl']) {
      const bytes = capture(name);
      const whole = events(new EslDecoder().push(bytes));
      const bytewise = events(decodeAll(bytes, () => 1));
      assert.deepEqual(bytewise, whole, name);
    }
  });

  it('gives the same events for random read sizes (seeded)', () => {
    const rnd = prng(42);
    for (const name of ['02-inbound-abandoned.esl', '05-blind-transfer.json.esl', '05-blind-transfer.esl']) {
      const bytes = capture(name);
      const whole = events(new EslDecoder().push(bytes));
      for (let round = 0; round < 5; round++) {
        const split = events(decodeAll(bytes, () => Math.floor(rnd() * 7000)));
        assert.deepEqual(split, whole, `${name} round ${round}`);
      }
    }
  });

  it('splits at every offset of a frame boundary region without losing a frame', () => {
    const bytes = capture('01-inbound-answered.json.esl').subarray(0, 12_000);
    const whole = new EslDecoder().push(bytes);
    for (let cut = 1; cut < bytes.length; cut += 7) {
      const d = new EslDecoder();
      const out = [...d.push(bytes.subarray(0, cut)), ...d.push(bytes.subarray(cut))];
      assert.deepEqual(out, whole, `cut at ${cut}`);
    }
  });

  it('skips a frame over max_frame_bytes with one reported error and reads the next frame', () => {
    const big: EslEvent = { name: 'CUSTOM', headers: { 'Event-Name': 'CUSTOM', Filler: 'x'.repeat(20_000) } };
    const small: EslEvent = { name: 'HEARTBEAT', headers: { 'Event-Name': 'HEARTBEAT' } };
    const bytes = Buffer.concat([encodeEventFrame(big, 'json'), encodeEventFrame(small, 'json')]);
    const out = decodeAll(bytes, () => 333, 10_000);
    const skipped = out.filter((m) => m.type === 'skipped');
    assert.equal(skipped.length, 1);
    assert.equal(skipped[0]?.type === 'skipped' && isCallpopError(skipped[0].error, 'CALLPOP_ESL_FRAME'), true);
    assert.deepEqual(events(out).map((e) => e.name), ['HEARTBEAT']);
  });

  it('never holds more than max_frame_bytes while skipping an oversized frame', () => {
    const decoder = new EslDecoder({ maxFrameBytes: 4096 });
    decoder.push(Buffer.from('Content-Length: 100000000\nContent-Type: text/event-json\n\n'));
    for (let i = 0; i < 100; i++) decoder.push(Buffer.alloc(65536, 0x41));
    assert.equal(decoder.bufferedBytes, 0);
    assert.equal(decoder.stats.skippedBytes, 100 * 65536);
  });

  it('reports bad JSON and keeps reading', () => {
    const bad = Buffer.from('Content-Length: 9\nContent-Type: text/event-json\n\n{"Event-N');
    const good = encodeEventFrame({ name: 'HEARTBEAT', headers: { 'Event-Name': 'HEARTBEAT' } }, 'json');
    const out = new EslDecoder().push(Buffer.concat([bad, good]));
    assert.equal(out.filter((m) => m.type === 'error').length, 1);
    assert.deepEqual(events(out).map((e) => e.name), ['HEARTBEAT']);
  });

  it('reports bad percent-encoding and decodes the rest of the value leniently', () => {
    const body = 'Event-Name: CHANNEL_CREATE\nCaller-Caller-ID-Name: 100%25%20sure%ZZ%C3\n\n';
    const bytes = Buffer.from(`Content-Length: ${Buffer.byteLength(body)}\nContent-Type: text/event-plain\n\n${body}`);
    const out = new EslDecoder().push(bytes);
    assert.equal(out.filter((m) => m.type === 'error').length, 1);
    assert.equal(events(out)[0]?.headers['Caller-Caller-ID-Name'], '100% sure%ZZ\uFFFD');
  });

  it('reports a malformed header line and still reads the frame', () => {
    const out = new EslDecoder().push(Buffer.from('Content-Type: command/reply\ngarbage line\nReply-Text: +OK\n\n'));
    assert.equal(out.filter((m) => m.type === 'error').length, 1);
    assert.deepEqual(out.find((m) => m.type === 'command-reply'), { type: 'command-reply', ok: true, replyText: '+OK', headers: { 'Content-Type': 'command/reply', 'Reply-Text': '+OK' } });
  });

  it('reads api/response, disconnect-notice, rude-rejection and log/data frames', () => {
    const frame = (type: string, body: string): string => `Content-Type: ${type}\nContent-Length: ${Buffer.byteLength(body)}\n\n${body}`;
    const out = new EslDecoder().push(
      Buffer.from(
        frame('api/response', '{"row_count":0}') +
          frame('api/response', '-ERR no such command\n') +
          frame('log/data', 'a log line\n') +
          frame('text/rude-rejection', 'Access Denied, go away.\n') +
          frame('text/disconnect-notice', 'Disconnected, goodbye.\n'),
      ),
    );
    assert.deepEqual(
      out.map((m) => m.type),
      ['api-response', 'api-response', 'log', 'rude-rejection', 'disconnect-notice'],
    );
    assert.equal(out[0]?.type === 'api-response' && out[0].ok, true);
    assert.equal(out[1]?.type === 'api-response' && out[1].ok, false);
  });

  it('survives seeded random garbage without throwing and with bounded memory', () => {
    const rnd = prng(7);
    const base = capture('01-inbound-answered.json.esl').subarray(0, 40_000);
    for (let round = 0; round < 60; round++) {
      const bytes = Buffer.from(base);
      const flips = 1 + Math.floor(rnd() * 40);
      for (let i = 0; i < flips; i++) bytes[Math.floor(rnd() * bytes.length)] = Math.floor(rnd() * 256);
      const decoder = new EslDecoder({ maxFrameBytes: 16_384 });
      for (let offset = 0; offset < bytes.length; ) {
        const n = 1 + Math.floor(rnd() * 4000);
        decoder.push(bytes.subarray(offset, offset + n));
        offset += n;
        assert.ok(decoder.bufferedBytes <= 16_384 + 65_536, `buffered ${decoder.bufferedBytes}`);
      }
    }
  });

  it('encodes auth, event, filter, api and bgapi commands as one line plus a blank line', () => {
    assert.equal(encodeCommand({ kind: 'auth', password: 'ClueCon' }).toString(), 'auth ClueCon\n\n');
    assert.equal(encodeCommand({ kind: 'event', format: 'json', events: ['CHANNEL_CREATE', 'CUSTOM', 'callcenter::info'] }).toString(), 'event json CHANNEL_CREATE CUSTOM callcenter::info\n\n');
    assert.equal(encodeCommand({ kind: 'filter', header: 'Event-Name', value: 'CHANNEL_CREATE' }).toString(), 'filter Event-Name CHANNEL_CREATE\n\n');
    assert.equal(encodeCommand({ kind: 'api', command: 'show channels as json' }).toString(), 'api show channels as json\n\n');
    assert.equal(encodeCommand({ kind: 'bgapi', command: 'status', jobUuid: 'j1' }).toString(), 'bgapi status\nJob-UUID: j1\n\n');
  });

  it('refuses a command with a line break and does not echo the password', () => {
    assert.throws(
      () => encodeCommand({ kind: 'auth', password: 'secret\n\napi shutdown' }),
      (err: unknown) => isCallpopError(err, 'CALLPOP_ESL_FRAME') && !(err as Error).message.includes('secret'),
    );
  });
});
