import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { AmiDecoded, AmiMessage } from '../src/pbx/asterisk/ami-codec.js';
import { AmiDecoder, encodeAction, encodeMessage } from '../src/pbx/asterisk/ami-codec.js';
import { isCallpopError } from '../src/model/errors.js';
import { TRUNCATION_MARK } from '../src/pbx/truncate-value.js';
import { prng } from './helpers/prng.js';

const FIXTURES = join(process.cwd(), 'test', 'fixtures', 'asterisk');
const captures = readdirSync(FIXTURES).filter((f) => f.endsWith('.ami')).sort();

function decodeAll(decoder: AmiDecoder, chunks: Iterable<Buffer | string>): AmiDecoded[] {
  const out: AmiDecoded[] = [];
  for (const chunk of chunks) out.push(...decoder.push(chunk));
  return out;
}

function messages(items: AmiDecoded[]): AmiMessage[] {
  return items.flatMap((i) => (i.type === 'message' ? [i.message] : []));
}

function* randomChunks(bytes: Buffer, rand: () => number, maxChunk: number): Generator<Buffer> {
  let offset = 0;
  while (offset < bytes.length) {
    const size = 1 + Math.floor(rand() * maxChunk);
    yield bytes.subarray(offset, offset + size);
    offset += size;
  }
}

describe('AMI codec', () => {
  it('reads the greeting line and the blocks of a real capture', () => {
    const items = new AmiDecoder().push(readFileSync(join(FIXTURES, '01-inbound-answered.ami')));
    const first = items[0];
    assert.equal(first?.type, 'greeting');
    assert.equal(first?.type === 'greeting' && first.version, '11.0.0');
    const msgs = messages(items);
    assert.deepEqual({ ...msgs[0] }, { Response: 'Success', Message: 'Authentication accepted' });
    assert.equal(msgs[1]?.['Event'], 'FullyBooted');
    assert.ok(items.every((i) => i.type === 'greeting' || i.type === 'message'), 'no malformed or oversized items in a real capture');
  });

  it('keeps every value after the first colon, including colons in the value', () => {
    const [item] = new AmiDecoder({ expectGreeting: false }).push('Event: SuccessfulAuth\r\nEventTV: 2026-11-22T18:11:14.841+0000\r\n\r\n');
    assert.equal(item?.type === 'message' && item.message['EventTV'], '2026-11-22T18:11:14.841+0000');
  });

  it('keeps an empty value as an empty string', () => {
    const [item] = new AmiDecoder({ expectGreeting: false }).push('Event: Newchannel\r\nAccountCode: \r\nExten:\r\n\r\n');
    assert.equal(item?.type === 'message' && item.message['AccountCode'], '');
    assert.equal(item?.type === 'message' && item.message['Exten'], '');
  });

  for (const file of captures) {
    it(`decodes ${file} identically when the bytes arrive in random chunks, one byte at a time included`, () => {
      const bytes = readFileSync(join(FIXTURES, file));
      const whole = decodeAll(new AmiDecoder(), [bytes]);
      const oneByOne = decodeAll(new AmiDecoder(), randomChunks(bytes, () => 0, 1));
      assert.deepEqual(oneByOne, whole);
      const rand = prng(file.length * 7919);
      for (let round = 0; round < 5; round++) {
        assert.deepEqual(decodeAll(new AmiDecoder(), randomChunks(bytes, rand, 1 + round * 97)), whole);
      }
    });
  }

  it('decodes a UTF-8 caller name split in the middle of a multi-byte character', () => {
    const bytes = Buffer.from('Event: Newchannel\r\nCallerIDName: Jürgen Müller 東京\r\n\r\n', 'utf8');
    const out = decodeAll(new AmiDecoder({ expectGreeting: false }), randomChunks(bytes, () => 0, 1));
    assert.equal(messages(out)[0]?.['CallerIDName'], 'Jürgen Müller 東京');
  });

  it('returns several frames from one read', () => {
    const out = new AmiDecoder({ expectGreeting: false }).push('Event: A\r\n\r\nEvent: B\r\n\r\nEvent: C\r\n\r\n');
    assert.deepEqual(messages(out).map((m) => m['Event']), ['A', 'B', 'C']);
  });

  it('accepts bare LF line ends', () => {
    const out = new AmiDecoder().push('Asterisk Call Manager/11.0.0\nResponse: Success\nMessage: ok\n\nEvent: Ping\n\n');
    assert.equal(out[0]?.type, 'greeting');
    assert.deepEqual(messages(out).map((m) => m['Response'] ?? m['Event']), ['Success', 'Ping']);
  });

  it('reports a line without a colon and keeps the rest of its frame', () => {
    const out = new AmiDecoder({ expectGreeting: false }).push('Event: Hangup\r\nthis line is broken\r\nUniqueid: 1.2\r\n\r\n');
    assert.deepEqual(out[0], { type: 'malformed', line: 'this line is broken' });
    assert.deepEqual({ ...messages(out)[0] }, { Event: 'Hangup', Uniqueid: '1.2' });
  });

  it('drops a frame over the size limit, reports it once and resyncs at the next blank line', () => {
    const decoder = new AmiDecoder({ expectGreeting: false, maxFrameBytes: 1024 });
    const big = `Event: Huge\r\n${'Variable: x\r\n'.repeat(500)}\r\n`;
    const out = decodeAll(decoder, [big, 'Event: After\r\n\r\n']);
    assert.equal(out.filter((i) => i.type === 'oversized').length, 1);
    assert.deepEqual(messages(out).map((m) => m['Event']), ['After']);
  });

  it('drops a single endless line without holding it in memory', () => {
    const decoder = new AmiDecoder({ expectGreeting: false, maxFrameBytes: 2048 });
    const out: AmiDecoded[] = [];
    for (let i = 0; i < 2000; i++) out.push(...decoder.push('x'.repeat(1000)));
    out.push(...decoder.push('\r\n\r\nEvent: Next\r\n\r\n'));
    assert.equal(out.filter((i) => i.type === 'oversized').length, 1);
    assert.deepEqual(messages(out).map((m) => m['Event']), ['Next']);
  });

  describe('a 100 KB caller name (issue 13 finding 3)', () => {
    const name = 'Ä'.repeat(100_000);
    const newchannel = `Event: Newchannel\r\nChannel: PJSIP/trunk-00000001\r\nCallerIDNum: +4930123456\r\nCallerIDName: ${name}\r\nUniqueid: 1.1\r\nLinkedid: 1.1\r\n\r\n`;
    const expected = `${'Ä'.repeat(4096)}${TRUNCATION_MARK}`;

    it('keeps the frame with the name cut and marked when it arrives in one read', () => {
      const decoder = new AmiDecoder({ expectGreeting: false });
      const out = decoder.push(Buffer.from(newchannel + 'Event: After\r\n\r\n'));
      const got = messages(out);
      assert.deepEqual(got.map((m) => m['Event']), ['Newchannel', 'After']);
      assert.equal(got[0]?.['CallerIDName'], expected);
      assert.equal(got[0]?.['Uniqueid'], '1.1');
      assert.equal(out.filter((i) => i.type === 'oversized').length, 0);
    });

    it('keeps the frame with the name cut and marked when it arrives in small reads, holding only the kept head', () => {
      const decoder = new AmiDecoder({ expectGreeting: false });
      const bytes = Buffer.from(newchannel);
      const out: AmiDecoded[] = [];
      for (let offset = 0; offset < bytes.length; offset += 1000) {
        out.push(...decoder.push(bytes.subarray(offset, offset + 1000)));
        assert.ok((decoder as unknown as { pending: string }).pending.length <= 4096 + 256 + 1000, 'the long line is not held whole');
      }
      const got = messages(out);
      assert.equal(got.length, 1);
      assert.equal(got[0]?.['CallerIDName'], expected);
      assert.equal(got[0]?.['Linkedid'], '1.1');
    });

    it('reports the cut once for many frames and counts each', () => {
      const decoder = new AmiDecoder({ expectGreeting: false });
      const out = decoder.push(newchannel.repeat(5));
      assert.equal(messages(out).length, 5);
      assert.deepEqual(out.filter((i) => i.type === 'truncated'), [{ type: 'truncated', key: 'CallerIDName', limit: 4096 }]);
      assert.equal(decoder.stats.truncatedValues, 5);
    });

    it('still drops a frame whose many long values add up past max_frame_bytes', () => {
      const decoder = new AmiDecoder({ expectGreeting: false });
      const many = `Event: Huge\r\n${`Variable: ${'v'.repeat(10_000)}\r\n`.repeat(40)}\r\nEvent: After\r\n\r\n`;
      const out = decoder.push(many);
      assert.equal(out.filter((i) => i.type === 'oversized').length, 1);
      assert.deepEqual(messages(out).map((m) => m['Event']), ['After']);
    });
  });

  it('treats keys like __proto__ as plain data', () => {
    const out = new AmiDecoder({ expectGreeting: false }).push('__proto__: polluted\r\nconstructor: x\r\n\r\n');
    const msg = messages(out)[0];
    assert.equal(msg?.['__proto__'], 'polluted');
    assert.equal(({} as Record<string, unknown>)['polluted'], undefined);
  });

  it('keeps every value of a repeated key', () => {
    const out = new AmiDecoder({ expectGreeting: false }).push('Response: Success\r\nOutput: line 1\r\nOutput: line 2\r\n\r\n');
    assert.equal(messages(out)[0]?.['Output'], 'line 1\nline 2');
  });

  it('survives mutated and random frames without throwing, with bounded memory', () => {
    const rand = prng(20261122);
    const sample = readFileSync(join(FIXTURES, '03-queue-answered.ami'));
    const alphabet = Buffer.from('ab:: \r\n\r\n\n\r\u0000\u00ff€EventActionID');
    const decoder = new AmiDecoder({ maxFrameBytes: 4096 });
    let decoded = 0;
    for (let round = 0; round < 400; round++) {
      const start = Math.floor(rand() * sample.length);
      const piece = Buffer.from(sample.subarray(start, start + 1 + Math.floor(rand() * 3000)));
      for (let k = 0; k < 1 + Math.floor(rand() * 20); k++) {
        const at = Math.floor(rand() * piece.length);
        piece[at] = rand() < 0.5 ? (alphabet[Math.floor(rand() * alphabet.length)] ?? 0) : Math.floor(rand() * 256);
      }
      const junk = Buffer.alloc(Math.floor(rand() * 6000), Math.floor(rand() * 256));
      for (const chunk of [piece, junk]) {
        for (const part of randomChunks(chunk, rand, 700)) {
          const items = decoder.push(part);
          decoded += items.length;
          for (const item of items) {
            if (item.type === 'malformed') assert.ok(item.line.length <= 120, 'reported lines are short');
          }
        }
      }
    }
    // After the storm, a clean frame still decodes.
    const tail = messages(decoder.push('\r\n\r\nEvent: StillAlive\r\n\r\n'));
    assert.equal(tail.at(-1)?.['Event'], 'StillAlive');
    assert.ok(decoded > 0);
    assert.ok((decoder as unknown as { pending: string }).pending.length <= 4096 + 700, 'buffer stays under the frame bound');
  });

  it('encodes an action with CRLF framing and repeated keys', () => {
    const text = encodeAction('Originate', { Channel: 'PJSIP/1001', Variable: ['A=1', 'B=2'], Timeout: 30000, ActionID: 'x1', Skip: undefined });
    assert.equal(text, 'Action: Originate\r\nChannel: PJSIP/1001\r\nVariable: A=1\r\nVariable: B=2\r\nTimeout: 30000\r\nActionID: x1\r\n\r\n');
  });

  it('refuses to encode a value with a line break, so a caller ID cannot inject AMI lines', () => {
    assert.throws(
      () => encodeAction('Originate', { CallerID: '"Evil" <1>\r\nAction: Command\r\nCommand: core stop now' }),
      (err: unknown) => isCallpopError(err, 'CALLPOP_AMI_FRAME'),
    );
  });

  it('round-trips what it encodes', () => {
    const bytes = encodeMessage({ Event: 'Newstate', Channel: 'PJSIP/1001-00000001', ConnectedLineName: 'Erika Mustermann' });
    assert.deepEqual({ ...messages(new AmiDecoder({ expectGreeting: false }).push(bytes))[0] }, {
      Event: 'Newstate',
      Channel: 'PJSIP/1001-00000001',
      ConnectedLineName: 'Erika Mustermann',
    });
  });
});
