import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import type { EslEvent, EslMessage } from '../src/pbx/freeswitch/esl-codec.js';
import { DEEP_VALUE_PLACEHOLDER, ESL_MAX_VALUE_CHARS, EslDecoder, encodeCommand, headerText } from '../src/pbx/freeswitch/esl-codec.js';
import { TRUNCATION_MARK } from '../src/pbx/truncate-value.js';
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
    const decoder = new EslDecoder({ maxFrameBytes: 4096, maxSkipBytes: 100_000_000 });
    decoder.push(Buffer.from('Content-Length: 100000000\nContent-Type: text/event-json\n\n'));
    for (let i = 0; i < 100; i++) decoder.push(Buffer.alloc(65536, 0x41));
    assert.equal(decoder.bufferedBytes, 0);
    assert.equal(decoder.stats.skippedBytes, 100 * 65536);
  });

  describe('a Content-Length that cannot be trusted (issue 13 finding 1)', () => {
    const heartbeat = (): Buffer => encodeEventFrame({ name: 'HEARTBEAT', headers: { 'Event-Name': 'HEARTBEAT' } }, 'json');
    for (const bad of ['-5', 'abc', '999999999999999', '', '1e3', ' 12', '0x10']) {
      it(`throws CALLPOP_ESL_FRAME on Content-Length ${JSON.stringify(bad)} instead of gluing the next frames together`, () => {
        const decoder = new EslDecoder();
        const frame = Buffer.from(`Content-Length: ${bad}\nContent-Type: text/event-json\n\n{"Event-Name":"X"}`);
        assert.throws(
          () => decoder.push(Buffer.concat([frame, heartbeat(), heartbeat()])),
          (err: unknown) => isCallpopError(err, 'CALLPOP_ESL_FRAME') && /Content-Length/.test((err as Error).message) && /resync/.test((err as Error).message),
        );
      });
    }

    it('refuses further input after a protocol error until reset, then reads a clean stream', () => {
      const decoder = new EslDecoder();
      assert.throws(() => decoder.push(Buffer.from('Content-Length: -5\nContent-Type: text/event-json\n\n')));
      assert.throws(() => decoder.push(heartbeat()), (err: unknown) => isCallpopError(err, 'CALLPOP_ESL_FRAME'));
      decoder.reset();
      assert.deepEqual(events(decoder.push(heartbeat())).map((e) => e.name), ['HEARTBEAT']);
    });

    it('throws when a length just past max_frame_bytes was a lie and the skip lands inside other frames', () => {
      // 9,000,000 with the default 8 MiB limit is a sane number, so the frame is skipped;
      // but the bytes after it are the middle of events, not a frame: protocol error.
      const decoder = new EslDecoder();
      decoder.push(Buffer.from('Content-Length: 9000000\nContent-Type: text/event-json\n\n'));
      const frames: Buffer[] = [];
      let bytes = 0;
      while (bytes < 9_000_000 + 1000) {
        const f = encodeEventFrame({ name: 'CUSTOM', headers: { 'Event-Name': 'CUSTOM', Pad: 'p'.repeat(997) } }, 'plain');
        frames.push(f);
        bytes += f.length;
      }
      const all = Buffer.concat(frames);
      assert.throws(() => {
        for (let offset = 0; offset < all.length; offset += 65536) decoder.push(all.subarray(offset, offset + 65536));
      }, (err: unknown) => isCallpopError(err, 'CALLPOP_ESL_FRAME'));
    });

    it('still skips a sane oversized frame and reads the frame after it', () => {
      const decoder = new EslDecoder({ maxFrameBytes: 1024 });
      const body = 'x'.repeat(3000);
      const out = decoder.push(Buffer.concat([Buffer.from(`Content-Length: ${body.length}\nContent-Type: api/response\n\n${body}`), heartbeat()]));
      assert.deepEqual(out.map((m) => m.type), ['skipped', 'event']);
    });

    it('throws on a header block that never ends instead of reading on out of step', () => {
      const decoder = new EslDecoder();
      assert.throws(() => {
        for (let i = 0; i < 20; i++) decoder.push(Buffer.alloc(8192, 0x41));
      }, (err: unknown) => isCallpopError(err, 'CALLPOP_ESL_FRAME'));
    });
  });

  describe('hostile values (issue 13 findings 2 and 3)', () => {
    const jsonFrame = (body: string): Buffer => Buffer.from(`Content-Length: ${Buffer.byteLength(body)}\nContent-Type: text/event-json\n\n${body}`);

    it('turns a deeply nested JSON array into a placeholder instead of overflowing the stack', () => {
      const deep = '['.repeat(200_000) + ']'.repeat(200_000);
      const out = new EslDecoder().push(jsonFrame(`{"Event-Name":"CUSTOM","Deep":${deep}}`));
      const event = events(out)[0];
      assert.equal(event?.headers['Deep'], DEEP_VALUE_PLACEHOLDER);
    });

    it('turns a deeply nested _body object into a placeholder instead of throwing', () => {
      const deep = '{"a":'.repeat(100_000) + '1' + '}'.repeat(100_000);
      const decoder = new EslDecoder();
      const out = decoder.push(jsonFrame(`{"Event-Name":"BACKGROUND_JOB","_body":${deep}}`));
      assert.equal(events(out)[0]?.body, DEEP_VALUE_PLACEHOLDER);
      assert.equal(decoder.stats.deepValues, 1);
    });

    it('keeps a shallow nested object as JSON text', () => {
      const out = new EslDecoder().push(jsonFrame('{"Event-Name":"CUSTOM","Obj":{"a":[1,2]}}'));
      assert.equal(events(out)[0]?.headers['Obj'], '{"a":[1,2]}');
    });

    it('cuts a 100 KB caller name with a mark in a JSON event, reported once for many frames', () => {
      const name = 'N'.repeat(100_000);
      const decoder = new EslDecoder();
      const frame = jsonFrame(JSON.stringify({ 'Event-Name': 'CHANNEL_CREATE', 'Caller-Caller-ID-Name': name, 'Unique-ID': 'u1' }));
      const out = decoder.push(Buffer.concat([frame, frame, frame]));
      const got = events(out);
      assert.equal(got.length, 3);
      assert.equal(got[0]?.headers['Caller-Caller-ID-Name'], `${'N'.repeat(ESL_MAX_VALUE_CHARS)}${TRUNCATION_MARK}`);
      assert.equal(got[0]?.headers['Unique-ID'], 'u1');
      assert.equal(out.filter((m) => m.type === 'error').length, 1);
      assert.equal(decoder.stats.truncatedValues, 3);
    });

    it('cuts a 100 KB caller name with a mark in a plain event', () => {
      const event: EslEvent = { name: 'CHANNEL_CREATE', headers: { 'Event-Name': 'CHANNEL_CREATE', 'Caller-Caller-ID-Name': 'é'.repeat(100_000) } };
      const out = new EslDecoder().push(encodeEventFrame(event, 'plain'));
      assert.equal(events(out)[0]?.headers['Caller-Caller-ID-Name'], `${'é'.repeat(ESL_MAX_VALUE_CHARS)}${TRUNCATION_MARK}`);
    });
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

  it('survives seeded random garbage with nothing thrown but CALLPOP_ESL_FRAME and with bounded memory', () => {
    const rnd = prng(7);
    const base = capture('01-inbound-answered.json.esl').subarray(0, 40_000);
    let protocolErrors = 0;
    for (let round = 0; round < 60; round++) {
      const bytes = Buffer.from(base);
      const flips = 1 + Math.floor(rnd() * 40);
      for (let i = 0; i < flips; i++) bytes[Math.floor(rnd() * bytes.length)] = Math.floor(rnd() * 256);
      const decoder = new EslDecoder({ maxFrameBytes: 16_384 });
      for (let offset = 0; offset < bytes.length; ) {
        const n = 1 + Math.floor(rnd() * 4000);
        try {
          decoder.push(bytes.subarray(offset, offset + n));
        } catch (err) {
          // What the connection does: drop, reconnect with a fresh decoder, resync.
          assert.ok(isCallpopError(err, 'CALLPOP_ESL_FRAME'), String(err));
          protocolErrors += 1;
          decoder.reset();
        }
        offset += n;
        assert.ok(decoder.bufferedBytes <= 16_384 + 65_536, `buffered ${decoder.bufferedBytes}`);
      }
    }
    assert.ok(protocolErrors > 0, 'flipped bytes in Content-Length must be caught as protocol errors');
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
