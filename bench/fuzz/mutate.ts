/**
 * Byte mutators for the fuzz targets: each takes real captured bytes and a PRNG and
 * returns hostile variants (flips, cuts, repeats, dictionary tokens, huge values, deep
 * nesting). Pure and seeded, so a failing input is replayed from its seed and index.
 */

export type Rng = () => number;

export function pick<T>(rng: Rng, items: readonly T[]): T {
  return items[Math.floor(rng() * items.length)]!;
}

export function int(rng: Rng, max: number): number {
  return Math.floor(rng() * max);
}

/** Tokens that matter to the codecs, the normalisers or JSON; spliced in at random places. */
const COMMON_TOKENS = [
  '\n', '\n\n', '\r\n', '\r\n\r\n', '\r', ': ', ':', '%', '%ZZ', '%C3', '\u0000', 'é', '😀', '\uD800',
  '__proto__', 'constructor', 'toString', '-1', '0', '999999999999999', 'NaN', '[', ']', '{', '}', '"', '\\',
];

export const AMI_TOKENS = [
  ...COMMON_TOKENS,
  'Event: Newchannel\r\n', 'Event: Newstate\r\n', 'Event: Hangup\r\n', 'Event: DialBegin\r\n', 'Event: DialEnd\r\n',
  'Event: AgentConnect\r\n', 'Event: AttendedTransfer\r\n', 'Event: BlindTransfer\r\n', 'Event: QueueCallerJoin\r\n',
  'ChannelStateDesc: Ringing\r\n', 'ChannelStateDesc: Up\r\n', 'Channel: PJSIP/1001-00000001\r\n', 'Channel: Local/1001@x-1;2\r\n',
  'Uniqueid: 1.1\r\n', 'Linkedid: 1.1\r\n', 'Linkedid: 9.9\r\n', 'Result: Success\r\n', 'DialStatus: ANSWER\r\n', '__proto__: x\r\n',
];

export const ESL_TOKENS = [
  ...COMMON_TOKENS,
  'Content-Length: ', 'Content-Length: -5\n', 'Content-Length: abc\n', 'Content-Length: 999999999999999\n', 'Content-Length: 9000000\n',
  'Content-Type: text/event-json\n', 'Content-Type: text/event-plain\n', 'Content-Type: api/response\n',
  'Event-Name: CHANNEL_ANSWER', 'Event-Name: CHANNEL_HANGUP_COMPLETE', '"Event-Name":"CHANNEL_BRIDGE"', '"Call-Direction":"outbound"',
  '"variable_dialed_user":"1001"', '"Other-Type":"originator"', '"_body":', '"Unique-ID":"x"', 'Unique-ID: x\n',
];

const CHEAP_EDITS = [0, 1, 2, 3, 4, 7, 8];

/** One mutated copy of `input`: 1-8 edits of the kinds above. */
export function mutate(rng: Rng, input: Buffer, tokens: readonly string[]): Buffer {
  let bytes = input;
  const edits = 1 + int(rng, 8);
  for (let i = 0; i < edits; i++) {
    const at = int(rng, bytes.length + 1);
    // Huge values and deep nesting (cases 5, 6) cost the most per input: 1 edit in 40 each.
    const roll = int(rng, 80);
    const kind = roll === 0 ? 5 : roll === 1 ? 6 : CHEAP_EDITS[roll % CHEAP_EDITS.length]!;
    switch (kind) {
      case 0: {
        const copy = Buffer.from(bytes);
        if (copy.length) copy[Math.min(at, copy.length - 1)] = int(rng, 256);
        bytes = copy;
        break;
      }
      case 1:
        bytes = Buffer.concat([bytes.subarray(0, at), bytes.subarray(Math.min(bytes.length, at + 1 + int(rng, 64)))]);
        break;
      case 2: {
        const len = 1 + int(rng, 200);
        const piece = bytes.subarray(at, at + len);
        bytes = Buffer.concat([bytes.subarray(0, at), piece, piece, bytes.subarray(at)]);
        break;
      }
      case 3:
      case 4:
        bytes = Buffer.concat([bytes.subarray(0, at), Buffer.from(pick(rng, tokens), 'utf8'), bytes.subarray(at)]);
        break;
      case 5:
        // A huge value (attacker-controlled caller name): 5 KB to 120 KB.
        bytes = Buffer.concat([bytes.subarray(0, at), Buffer.alloc(5000 + int(rng, 115_000), pick(rng, ['A', 'é', '%41'])), bytes.subarray(at)]);
        break;
      case 6: {
        // Deep nesting, for the JSON paths.
        const depth = 10 + int(rng, 50_000);
        const open = pick(rng, ['[', '{"a":']);
        const close = open === '[' ? ']' : '}';
        bytes = Buffer.concat([bytes.subarray(0, at), Buffer.from(open.repeat(depth) + '1' + close.repeat(depth)), bytes.subarray(at)]);
        break;
      }
      case 7:
        bytes = bytes.subarray(0, at);
        break;
      default:
        bytes = Buffer.concat([bytes.subarray(at), bytes.subarray(0, at)]);
    }
    if (bytes.length > 400_000) bytes = bytes.subarray(0, 400_000);
  }
  return bytes;
}

/** `bytes` cut at random offsets into 1-6 reads, as a socket may deliver it. */
export function randomReads(rng: Rng, bytes: Buffer): Buffer[] {
  const cuts = int(rng, 6);
  const points = Array.from({ length: cuts }, () => int(rng, bytes.length + 1)).sort((a, b) => a - b);
  const reads: Buffer[] = [];
  let from = 0;
  for (const p of points) {
    reads.push(bytes.subarray(from, p));
    from = p;
  }
  reads.push(bytes.subarray(from));
  return reads;
}
