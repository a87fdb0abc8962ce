import { CallpopError } from '../../model/errors.js';
import { truncateValue } from '../truncate-value.js';

/**
 * FreeSWITCH Event Socket (ESL) wire codec: bytes in, messages out. No sockets, no timers,
 * so it is tested with captured bytes split at every offset, fuzzed and benchmarked alone.
 *
 * Wire format (mod_event_socket, checked against test/fixtures/freeswitch/*.esl):
 * - a frame is `Name: value` header lines (LF only), a blank line, then exactly
 *   `Content-Length` **bytes** of body (no body when the header is absent);
 * - outer frame headers are not %-encoded; the header block inside a `text/event-plain`
 *   body is, value by value, with decodeURIComponent semantics (a raw `+` stays a `+`);
 * - a plain event with a body of its own (BACKGROUND_JOB) carries an inner
 *   `Content-Length: N`, a blank line, then N bytes;
 * - a `text/event-json` body is one JSON object; its own body is under `_body`.
 *
 * Protocol errors: `Content-Length` is the only thing that says where the next frame
 * starts. When it cannot be trusted (not a decimal number, absurdly large, or a skipped
 * frame that is not followed by a frame), every later byte would be read at the wrong
 * place, so {@link EslDecoder.push} throws a `CALLPOP_ESL_FRAME` CallpopError instead of
 * guessing. The connection must then drop the socket, reconnect and resync; the decoder
 * refuses further input until {@link EslDecoder.reset}. Everything else that is wrong
 * inside one frame (bad JSON, a bad header line, bad %-encoding, an over-long value) is
 * survived and reported as a message.
 */

/** One event in callpop's shape: the same for `event plain` and `event json` subscriptions. */
export interface EslEvent {
  /** `Event-Name`, e.g. `CHANNEL_CREATE`, `CUSTOM`. */
  name: string;
  /**
   * Header values, decoded. FreeSWITCH writes every value as a string except arrays, which
   * are given in the plain-format spelling (`ARRAY::a|:b`) so both formats yield identical
   * events. A JSON peer that sends a number, boolean or null (FreeSWITCH never does) has it
   * kept as parsed: read values through {@link headerText}.
   */
  headers: EslHeaders;
  /** The event's own body (BACKGROUND_JOB result, log text), when it has one. */
  body?: string;
}

export type EslHeaderValue = string | number | boolean | null;
export type EslHeaders = Record<string, EslHeaderValue>;

/** A header as text: a number or boolean as its string, null or absent as undefined. */
export function headerText(headers: EslHeaders, name: string): string | undefined {
  const value = headers[name];
  if (typeof value === 'string') return value;
  return value === null || value === undefined ? undefined : String(value);
}

export type EslMessage =
  | { type: 'auth-request' }
  | { type: 'command-reply'; ok: boolean; replyText: string; headers: Record<string, string> }
  | { type: 'api-response'; ok: boolean; body: string }
  | { type: 'event'; format: 'plain' | 'json'; event: EslEvent }
  | { type: 'disconnect-notice'; body: string; headers: Record<string, string> }
  /** mod_event_socket's answer to a client its ACL refuses (`apply-inbound-acl`). */
  | { type: 'rude-rejection'; body: string }
  | { type: 'log'; headers: Record<string, string>; body: string }
  | { type: 'unknown'; contentType: string; headers: Record<string, string>; body: string }
  /** A frame over `maxFrameBytes`: its bytes are discarded, its type is still known. */
  | { type: 'skipped'; contentType: string; bytes: number; error: CallpopError }
  /** Bad input that was survived (malformed header line, bad JSON, bad %-encoding). */
  | { type: 'error'; error: CallpopError };

export interface EslDecoderOptions {
  /** Largest frame body accepted, in bytes; larger frames are skipped. Default 8 MiB. */
  maxFrameBytes?: number;
  /** Largest header block accepted, in bytes. Default 64 KiB (or maxFrameBytes if smaller). */
  maxHeaderBytes?: number;
  /**
   * Largest frame that is skipped rather than treated as a protocol error. A length above
   * it is taken for a corrupt stream: skipping 1 PB would swallow every later event.
   * Default 4 x maxFrameBytes (32 MiB with the default limit: a `show channels as json`
   * of ~20,000 channels).
   */
  maxSkipBytes?: number;
  /**
   * Longest header value kept; a longer one is cut with a mark. Default 16 KiB, above
   * AMI's 4096: an ESL event carries every channel variable, SDP bodies included (a few
   * KB), and a JSON event is only walked for long values when its whole body is longer
   * than this, which a 16 KiB bound keeps rare (the captures' events are 1-7 KB).
   */
  maxValueChars?: number;
}

export interface EslDecoderStats {
  frames: number;
  events: number;
  skippedFrames: number;
  skippedBytes: number;
  errors: number;
  /** Header values cut to maxValueChars. */
  truncatedValues: number;
  /** JSON values nested deeper than {@link MAX_JSON_DEPTH}, replaced by a placeholder. */
  deepValues: number;
}

export const DEFAULT_MAX_FRAME_BYTES = 8 * 1024 * 1024;
const DEFAULT_MAX_HEADER_BYTES = 64 * 1024;
/** Default longest header value (see EslDecoderOptions.maxValueChars). */
export const ESL_MAX_VALUE_CHARS = 16 * 1024;
const LF = 0x0a;
/**
 * Deepest JSON value turned into text. FreeSWITCH nests at most one level (arrays); a
 * deeper value comes from a hostile or broken peer, and stringifying it recursively would
 * overflow the stack (issue 13: 1,685 RangeErrors in 600,000 fuzzed frames).
 */
export const MAX_JSON_DEPTH = 32;
/** What a value nested deeper than MAX_JSON_DEPTH becomes. */
export const DEEP_VALUE_PLACEHOLDER = `[JSON value nested deeper than ${MAX_JSON_DEPTH} levels; dropped]`;

type Mode = 'head' | 'body' | 'skip';

export class EslDecoder {
  readonly stats: EslDecoderStats = { frames: 0, events: 0, skippedFrames: 0, skippedBytes: 0, errors: 0, truncatedValues: 0, deepValues: 0 };
  private readonly maxFrameBytes: number;
  private readonly maxHeaderBytes: number;
  private readonly maxSkipBytes: number;
  /** @internal read by parseHeaderBlock */
  readonly maxValueChars: number;
  private mode: Mode = 'head';
  /** The protocol error that stopped this decoder, until reset(). */
  private failure: CallpopError | null = null;
  /** The frame before was skipped unread: the next header block proves we are still in step. */
  private verifyNextFrame = false;
  /** Causes already reported once (truncation, deep JSON): a counter covers the repeats. */
  private readonly reported = new Set<string>();
  /** Header bytes seen so far for the frame being read (the frame's start may span reads). */
  private headParts: Buffer[] = [];
  private headBytes = 0;
  /** When the last header byte seen is LF, a LF at the start of the next read ends the block. */
  private headEndsWithLf = false;
  private frameHeaders: Record<string, string> = {};
  private bodyParts: Buffer[] = [];
  private remaining = 0;

  constructor(options: EslDecoderOptions = {}) {
    this.maxFrameBytes = options.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES;
    this.maxHeaderBytes = Math.min(options.maxHeaderBytes ?? DEFAULT_MAX_HEADER_BYTES, Math.max(this.maxFrameBytes, 1024));
    this.maxSkipBytes = Math.max(options.maxSkipBytes ?? 4 * this.maxFrameBytes, this.maxFrameBytes);
    this.maxValueChars = options.maxValueChars ?? ESL_MAX_VALUE_CHARS;
  }

  /** Forgets all buffered input and a previous protocol error: for a fresh connection. */
  reset(): void {
    this.mode = 'head';
    this.failure = null;
    this.verifyNextFrame = false;
    this.headParts = [];
    this.headBytes = 0;
    this.headEndsWithLf = false;
    this.frameHeaders = {};
    this.bodyParts = [];
    this.remaining = 0;
    this.reported.clear();
  }

  /** Bytes held while waiting for the rest of a frame (bounded by the two limits). */
  get bufferedBytes(): number {
    return this.headBytes + this.bodyParts.reduce((n, b) => n + b.length, 0);
  }

  /**
   * Feeds one read from the socket; returns every message it completes (often several).
   * Throws a `CALLPOP_ESL_FRAME` CallpopError when the stream has lost its framing (see the
   * file comment); messages completed earlier in the same read are lost with it, which is
   * fine because the caller resyncs. After a throw every call throws until reset().
   */
  push(chunk: Buffer): EslMessage[] {
    if (this.failure) throw this.failure;
    const out: EslMessage[] = [];
    let offset = 0;
    const length = chunk.length;
    while (offset < length) {
      if (this.mode === 'skip') {
        const n = Math.min(this.remaining, length - offset);
        offset += n;
        this.remaining -= n;
        this.stats.skippedBytes += n;
        if (this.remaining === 0) {
          this.mode = 'head';
          this.verifyNextFrame = true;
        }
        continue;
      }
      if (this.mode === 'body') {
        const n = Math.min(this.remaining, length - offset);
        this.bodyParts.push(chunk.subarray(offset, offset + n));
        offset += n;
        this.remaining -= n;
        if (this.remaining === 0) {
          const body = this.bodyParts.length === 1 ? this.bodyParts[0]! : Buffer.concat(this.bodyParts);
          this.bodyParts = [];
          this.mode = 'head';
          this.emitFrame(this.frameHeaders, body, out);
        }
        continue;
      }
      offset = this.readHead(chunk, offset, out);
    }
    return out;
  }

  /** Reads header bytes from `offset`; returns the new offset. */
  private readHead(chunk: Buffer, offset: number, out: EslMessage[]): number {
    let end: number;
    let resume: number;
    if (this.headEndsWithLf && chunk[offset] === LF) {
      // The blank line straddles two reads: "...\n" | "\n...".
      end = offset;
      resume = offset + 1;
    } else {
      const idx = chunk.indexOf('\n\n', offset, 'latin1');
      if (idx < 0) {
        const rest = chunk.subarray(offset);
        this.headParts.push(rest);
        this.headBytes += rest.length;
        this.headEndsWithLf = rest[rest.length - 1] === LF;
        if (this.headBytes > this.maxHeaderBytes) {
          // Real outer header blocks are a few hundred bytes: this is not a frame boundary
          // we can find again by reading on.
          this.fatal(`ESL header block over ${this.maxHeaderBytes} bytes without a blank line; the stream is out of step`);
        }
        return chunk.length;
      }
      end = idx;
      resume = idx + 2;
    }
    let head: Buffer;
    if (this.headParts.length === 0) {
      head = chunk.subarray(offset, end);
    } else {
      this.headParts.push(chunk.subarray(offset, end));
      head = Buffer.concat(this.headParts);
      // A block that straddled reads keeps its trailing LF in the previous part; drop it.
      if (head[head.length - 1] === LF) head = head.subarray(0, head.length - 1);
    }
    this.headParts = [];
    this.headBytes = 0;
    this.headEndsWithLf = false;
    if (head.length === 0) return resume; // stray blank line between frames
    this.startFrame(head, out);
    return resume;
  }

  private startFrame(head: Buffer, out: EslMessage[]): void {
    const headers = parseHeaderBlock(head.toString('utf8'), false, out, this);
    if (this.verifyNextFrame) {
      this.verifyNextFrame = false;
      // mod_event_socket puts Content-Type on every frame it sends.
      if (headers['Content-Type'] === undefined) {
        this.fatal('ESL data after a skipped frame is not a frame (no Content-Type); its Content-Length was wrong');
      }
    }
    const rawLength = headers['Content-Length'];
    let length = 0;
    if (rawLength !== undefined) {
      // Decimal digits only: "-5", "abc", "1e3", " 12" would each place the next frame at
      // the wrong byte and glue every later frame to this one.
      if (!/^\d{1,15}$/.test(rawLength)) {
        this.fatal(`ESL frame has an invalid Content-Length ${JSON.stringify(truncateValue(rawLength, 40))}; the stream cannot be followed`);
      }
      length = Number(rawLength);
      if (length > this.maxSkipBytes) {
        this.fatal(`ESL frame claims Content-Length ${length}, above ${this.maxSkipBytes} bytes that could be skipped; the stream cannot be followed`);
      }
    }
    if (length > this.maxFrameBytes) {
      const contentType = headers['Content-Type'] ?? '';
      this.stats.skippedFrames += 1;
      this.stats.errors += 1;
      const error = new CallpopError(
        'CALLPOP_ESL_FRAME',
        `ESL frame of ${length} bytes (${contentType || 'no Content-Type'}) exceeds max_frame_bytes ${this.maxFrameBytes}; skipped`,
      );
      out.push({ type: 'skipped', contentType, bytes: length, error });
      this.mode = 'skip';
      this.remaining = length;
      return;
    }
    if (length === 0) {
      this.emitFrame(headers, EMPTY, out);
      return;
    }
    this.frameHeaders = headers;
    this.mode = 'body';
    this.remaining = length;
  }

  private emitFrame(headers: Record<string, string>, body: Buffer, out: EslMessage[]): void {
    this.stats.frames += 1;
    const contentType = headers['Content-Type'] ?? '';
    switch (contentType) {
      case 'auth/request':
        out.push({ type: 'auth-request' });
        return;
      case 'command/reply': {
        const replyText = headers['Reply-Text'] ?? '';
        out.push({ type: 'command-reply', ok: replyText.startsWith('+OK'), replyText, headers });
        return;
      }
      case 'api/response': {
        const text = body.toString('utf8');
        out.push({ type: 'api-response', ok: !text.startsWith('-ERR'), body: text });
        return;
      }
      case 'text/event-plain': {
        const event = this.decodePlainEvent(body, out);
        if (event) {
          this.stats.events += 1;
          out.push({ type: 'event', format: 'plain', event });
        }
        return;
      }
      case 'text/event-json': {
        const event = this.decodeJsonEvent(body, out);
        if (event) {
          this.stats.events += 1;
          out.push({ type: 'event', format: 'json', event });
        }
        return;
      }
      case 'text/disconnect-notice':
        out.push({ type: 'disconnect-notice', body: body.toString('utf8'), headers });
        return;
      case 'text/rude-rejection':
        out.push({ type: 'rude-rejection', body: body.toString('utf8') });
        return;
      case 'log/data':
        out.push({ type: 'log', headers, body: body.toString('utf8') });
        return;
      default:
        if (!contentType) out.push(this.problem('ESL frame without Content-Type; ignored'));
        else out.push({ type: 'unknown', contentType, headers, body: body.toString('utf8') });
    }
  }

  private decodePlainEvent(body: Buffer, out: EslMessage[]): EslEvent | null {
    // The header block ends at the first blank line; an inner Content-Length says how many
    // bytes of the event's own body follow it (BACKGROUND_JOB: "+OK <uuid>\n").
    let split = body.indexOf('\n\n', 0, 'latin1');
    const headEnd = split < 0 ? body.length : split;
    const headers = parseHeaderBlock(body.toString('utf8', 0, headEnd), true, out, this);
    const name = headers['Event-Name'];
    if (!name) {
      out.push(this.problem('ESL plain event without Event-Name; ignored'));
      return null;
    }
    const event: EslEvent = { name, headers };
    const inner = headers['Content-Length'];
    if (inner !== undefined && split >= 0) {
      split += 2;
      const n = /^\d{1,15}$/.test(inner) ? Number(inner) : body.length - split;
      event.body = body.toString('utf8', split, Math.min(body.length, split + n));
    }
    return event;
  }

  private decodeJsonEvent(body: Buffer, out: EslMessage[]): EslEvent | null {
    let parsed: unknown;
    const text = body.toString('utf8');
    try {
      parsed = JSON.parse(text);
    } catch (err) {
      out.push(this.problem(`ESL JSON event is not valid JSON (${(err as Error).message.slice(0, 80)}); ignored`));
      return null;
    }
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
      out.push(this.problem('ESL JSON event is not an object; ignored'));
      return null;
    }
    const headers = parsed as Record<string, unknown>;
    let eventBody: string | undefined;
    // FreeSWITCH sends string values only, except arrays (variable_DP_MATCH). Walking ~80
    // keys per event costs about a quarter of the JSON.parse, so walk only when an array or
    // object may be there: a one-character search is a native memchr, where a regex or a
    // multi-character search over the body costs as much as the walk (docs/decisions.md).
    // A stray '[' or '{' inside a string value only costs a needless walk.
    // Same one-character gate for over-long values: none can be longer than the body.
    const nested = text.indexOf('[') >= 0 || text.indexOf('{', 1) >= 0;
    const long = text.length > this.maxValueChars;
    if (nested || long) {
      const max = this.maxValueChars;
      for (const key in headers) {
        if (key === '_body') continue;
        let value = headers[key];
        if (value !== null && typeof value === 'object') {
          // Same spelling as the plain format, so plain and JSON events compare equal.
          value = this.jsonValueText(value);
        }
        if (typeof value === 'string' && value.length > max) {
          value = truncateValue(value, max);
          this.noteTruncated(out);
        }
        // defineProperty: a key named "__proto__" is data, never the prototype.
        if (value !== headers[key]) Object.defineProperty(headers, key, { value, writable: true, enumerable: true, configurable: true });
      }
    }
    if ('_body' in headers) {
      const raw = headers._body;
      eventBody = typeof raw === 'string' ? raw : raw !== null && typeof raw === 'object' ? this.boundedJson(raw) : JSON.stringify(raw);
      delete headers._body;
    }
    const name = headers['Event-Name'];
    if (typeof name !== 'string' || !name) {
      out.push(this.problem('ESL JSON event without Event-Name; ignored'));
      return null;
    }
    const event: EslEvent = { name, headers: headers as EslHeaders };
    if (eventBody !== undefined) event.body = eventBody;
    return event;
  }

  /** An array in the plain-format spelling, any other object as JSON; never recursion past MAX_JSON_DEPTH. */
  private jsonValueText(value: object): string {
    if (!isShallow(value)) {
      this.stats.deepValues += 1;
      return DEEP_VALUE_PLACEHOLDER;
    }
    return Array.isArray(value) ? `ARRAY::${value.map((v) => String(v)).join('|:')}` : JSON.stringify(value);
  }

  private boundedJson(value: object): string {
    if (isShallow(value)) return JSON.stringify(value);
    this.stats.deepValues += 1;
    return DEEP_VALUE_PLACEHOLDER;
  }

  /** @internal used by parseHeaderBlock: counts every cut, reports the first one only. */
  noteTruncated(out: EslMessage[]): void {
    this.stats.truncatedValues += 1;
    if (this.reported.has('truncated')) return;
    this.reported.add('truncated');
    out.push(this.problem(`ESL header value over ${this.maxValueChars} characters cut (reported once per connection; see stats.truncatedValues)`));
  }

  private fatal(message: string): never {
    this.stats.errors += 1;
    this.failure = new CallpopError('CALLPOP_ESL_FRAME', `${message}; reconnect and resync`);
    throw this.failure;
  }

  /** @internal used by parseHeaderBlock */
  problem(message: string): EslMessage {
    this.stats.errors += 1;
    return { type: 'error', error: new CallpopError('CALLPOP_ESL_FRAME', message) };
  }
}

const EMPTY = Buffer.alloc(0);

/**
 * Whether `root` nests at most MAX_JSON_DEPTH levels. Iterative, so the check itself
 * cannot overflow the stack; it visits each node once (the input is bounded by the frame).
 */
function isShallow(root: object): boolean {
  const stack: Array<[unknown, number]> = [[root, 1]];
  while (stack.length > 0) {
    const [value, depth] = stack.pop()!;
    if (depth > MAX_JSON_DEPTH) return false;
    if (Array.isArray(value)) {
      for (const item of value) if (item !== null && typeof item === 'object') stack.push([item, depth + 1]);
    } else {
      for (const key in value as Record<string, unknown>) {
        const item = (value as Record<string, unknown>)[key];
        if (item !== null && typeof item === 'object') stack.push([item, depth + 1]);
      }
    }
  }
  return true;
}

function parseHeaderBlock(text: string, encoded: boolean, out: EslMessage[], decoder: EslDecoder): Record<string, string> {
  const headers: Record<string, string> = {};
  let start = 0;
  let reportedLine = false;
  let reportedEncoding = false;
  while (start <= text.length) {
    let end = text.indexOf('\n', start);
    if (end < 0) end = text.length;
    if (end > start) {
      const colon = text.indexOf(': ', start);
      if (colon < 0 || colon >= end) {
        if (!reportedLine) {
          out.push(decoder.problem(`ESL header line without "Name: value" (${JSON.stringify(text.slice(start, Math.min(end, start + 40)))}); ignored`));
          reportedLine = true;
        }
      } else {
        const name = text.slice(start, colon);
        let value = text.slice(colon + 2, end);
        if (encoded && value.includes('%')) {
          try {
            value = decodeURIComponent(value);
          } catch {
            if (!reportedEncoding) {
              out.push(decoder.problem(`ESL header ${JSON.stringify(name.slice(0, 60))} has invalid %-encoding; decoded leniently`));
              reportedEncoding = true;
            }
            value = decodePercentLeniently(value);
          }
        }
        if (value.length > decoder.maxValueChars) {
          // Cut after %-decoding, so a cut never splits a %XX escape.
          value = truncateValue(value, decoder.maxValueChars);
          decoder.noteTruncated(out);
        }
        // FreeSWITCH repeats some headers (CODEC events); the first one wins, as in switch_event_get_header.
        if (!(name in headers)) headers[name] = value;
      }
    }
    start = end + 1;
  }
  return headers;
}

/** Decodes every valid `%XX`, leaves other `%` as they are, turns invalid UTF-8 into U+FFFD. */
function decodePercentLeniently(value: string): string {
  const bytes: number[] = [];
  const raw = Buffer.from(value, 'utf8');
  for (let i = 0; i < raw.length; i++) {
    const b = raw[i]!;
    if (b === 0x25 && i + 2 < raw.length && isHex(raw[i + 1]) && isHex(raw[i + 2])) {
      bytes.push(parseInt(String.fromCharCode(raw[i + 1]!, raw[i + 2]!), 16));
      i += 2;
    } else {
      bytes.push(b);
    }
  }
  return Buffer.from(bytes).toString('utf8');
}

function isHex(b: number | undefined): boolean {
  return b !== undefined && ((b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x46) || (b >= 0x61 && b <= 0x66));
}

/** What callpop sends to FreeSWITCH. Every value is checked: a LF would inject a command. */
export type EslCommand =
  | { kind: 'auth'; password: string }
  /** Per-user login (`userauth user@domain:password`, the user's `esl-password` in the directory). */
  | { kind: 'userauth'; user: string; password: string }
  | { kind: 'event'; format: 'plain' | 'json'; events: readonly string[] }
  | { kind: 'filter'; header: string; value: string }
  | { kind: 'api'; command: string }
  | { kind: 'bgapi'; command: string; jobUuid?: string }
  | { kind: 'exit' };

/** Encodes one command as the bytes to write (`<line>\n\n`). Throws CALLPOP_ESL_FRAME on a LF/CR. */
export function encodeCommand(command: EslCommand): Buffer {
  switch (command.kind) {
    case 'auth':
      return frame(`auth ${safe(command.password, 'password')}`);
    case 'userauth':
      return frame(`userauth ${safe(command.user, 'user')}:${safe(command.password, 'password')}`);
    case 'event':
      return frame(`event ${command.format} ${command.events.map((e) => safe(e, 'event name')).join(' ')}`);
    case 'filter':
      return frame(`filter ${safe(command.header, 'filter header')} ${safe(command.value, 'filter value')}`);
    case 'api':
      return frame(`api ${safe(command.command, 'api command')}`);
    case 'bgapi':
      return frame(
        command.jobUuid
          ? `bgapi ${safe(command.command, 'bgapi command')}\nJob-UUID: ${safe(command.jobUuid, 'Job-UUID')}`
          : `bgapi ${safe(command.command, 'bgapi command')}`,
      );
    case 'exit':
      return frame('exit');
  }
}

function frame(text: string): Buffer {
  return Buffer.from(`${text}\n\n`, 'utf8');
}

function safe(value: string, what: string): string {
  if (/[\r\n]/.test(value)) {
    // Never echo the value: it may be the password.
    throw new CallpopError('CALLPOP_ESL_FRAME', `ESL ${what} contains a line break; refusing to send it`);
  }
  return value;
}
