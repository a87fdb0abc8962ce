import { StringDecoder } from 'node:string_decoder';
import { CallpopError } from '../../model/errors.js';
import { DEFAULT_MAX_VALUE_CHARS, TRUNCATION_MARK, truncateValue } from '../truncate-value.js';

/**
 * The AMI wire codec: bytes in, messages out. Pure — no sockets, no timers — so it is
 * tested with captured bytes split at every offset, fuzzed and benchmarked alone
 * (STYLE.md "Protocol code: small, pure, tested byte by byte").
 *
 * Wire format (Asterisk 22, AMI 11): one greeting line `Asterisk Call Manager/x.y.z\r\n`
 * with no blank line after it, then blocks of `Key: Value\r\n` lines, each block ended by
 * an empty line. We also accept bare `\n` line ends, which some proxies and older
 * versions produce.
 */

/**
 * One AMI block. Keys keep Asterisk's spelling (`Linkedid`, `ConnectedLineNum`). A key
 * repeated inside a block (`Variable:` on Originate, `Output:` on Command) keeps every
 * value, joined by `\n`. The object has no prototype, so a key named `__proto__` or
 * `constructor` is plain data.
 */
export type AmiMessage = Record<string, string>;

export type AmiDecoded =
  | { type: 'greeting'; version: string; line: string }
  | { type: 'message'; message: AmiMessage }
  /** A frame grew past `maxFrameBytes`; it was dropped and decoding resynced at the next blank line. */
  | { type: 'oversized'; bytes: number; limit: number }
  /** A line without a colon; it was skipped, the rest of its frame kept. */
  | { type: 'malformed'; line: string }
  /**
   * A value over `maxValueChars` was cut with a mark and its frame kept (a 100 KB caller
   * name must still give a call). Reported once per decoder; `AmiDecoder.stats` counts all.
   */
  | { type: 'truncated'; key: string; limit: number };

export interface AmiDecoderOptions {
  /**
   * Largest frame accepted, counted in UTF-16 code units after UTF-8 decoding (about bytes
   * for the ASCII AMI speaks). A frame past it is dropped; memory never holds more than
   * about this much of one frame. Default 65 536: the largest real frame in the captures
   * is about 1.6 KB.
   */
  maxFrameBytes?: number;
  /** Expect the greeting line first (a client). A server reading actions passes false. */
  expectGreeting?: boolean;
  /** Most characters of a malformed line kept in the report (logs stay short). */
  maxReportedLine?: number;
  /**
   * Longest value kept; a longer one is cut and ends with `…[truncated]`. Default 4096:
   * no real AMI value comes near it, and the frame stays under maxFrameBytes. Only the
   * cut part of a line counts against maxFrameBytes, so memory per frame stays bounded.
   */
  maxValueChars?: number;
}

export interface AmiDecoderStats {
  /** Frames dropped for being over maxFrameBytes. */
  oversizedFrames: number;
  malformedLines: number;
  truncatedValues: number;
}

export const DEFAULT_MAX_FRAME_BYTES = 65_536;
const GREETING_PREFIX = 'Asterisk Call Manager/';
/** Room for the key in front of a cut value: AMI keys are short (`ConnectedLineName`). */
const MAX_KEY_CHARS = 256;

export class AmiDecoder {
  readonly stats: AmiDecoderStats = { oversizedFrames: 0, malformedLines: 0, truncatedValues: 0 };
  private readonly maxFrameBytes: number;
  private readonly maxReportedLine: number;
  private readonly maxValueChars: number;
  private readonly maxLineChars: number;
  private readonly text = new StringDecoder('utf8');
  private expectGreeting: boolean;
  /** Undecoded text: at most one incomplete line (bounded by maxFrameBytes). */
  private pending = '';
  private fields: AmiMessage | null = null;
  private frameSize = 0;
  /** Dropping an oversized frame until its blank line. */
  private discarding = false;
  /** `pending` is the kept head of an over-long line; its rest is dropped up to the LF. */
  private lineCut = false;
  /** The next line handed to line() is such a cut line: its value gets the mark. */
  private nextLineCut = false;
  private truncationReported = false;

  constructor(options: AmiDecoderOptions = {}) {
    this.maxFrameBytes = options.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES;
    this.expectGreeting = options.expectGreeting ?? true;
    this.maxReportedLine = options.maxReportedLine ?? 120;
    this.maxValueChars = options.maxValueChars ?? DEFAULT_MAX_VALUE_CHARS;
    this.maxLineChars = this.maxValueChars + MAX_KEY_CHARS;
  }

  /** Feeds bytes as they arrive (any split); returns every complete item they finish. */
  push(chunk: Buffer | string): AmiDecoded[] {
    const out: AmiDecoded[] = [];
    let incoming = typeof chunk === 'string' ? chunk : this.text.write(chunk);
    if (this.lineCut) {
      const nl = incoming.indexOf('\n');
      if (nl < 0) return out; // still inside the over-long line: dropped
      this.lineCut = false;
      this.nextLineCut = true;
      incoming = incoming.slice(nl); // its LF ends the kept head in `pending`
    }
    const data = this.pending.length === 0 ? incoming : this.pending + incoming;
    let start = 0;
    for (;;) {
      const nl = data.indexOf('\n', start);
      if (nl < 0) break;
      const end = nl > start && data.charCodeAt(nl - 1) === 13 ? nl - 1 : nl;
      this.line(data, start, end, nl + 1 - start, out);
      start = nl + 1;
    }
    this.pending = start === 0 ? data : data.slice(start);
    if (this.pending.length > this.maxLineChars && !this.discarding) {
      // An over-long line (a 100 KB caller name) keeps its head; the rest is dropped as it
      // arrives, so memory holds at most maxLineChars of it.
      this.pending = this.pending.slice(0, this.maxLineChars).replace(/\r+$/, '');
      this.lineCut = true;
    }
    // A line that never ends must not grow memory: count it against the frame now.
    if (this.pending.length > 0 && this.frameSize + this.pending.length > this.maxFrameBytes) {
      this.lineCut = false;
      if (!this.discarding) this.startDiscarding(this.frameSize + this.pending.length, out);
      // Keep a one-character stand-in for the dropped text (and a trailing CR) so the rest
      // of this line, or a CRLF split across reads, is not mistaken for a blank line.
      this.pending = this.pending.endsWith('\r') ? '#\r' : '#';
    }
    return out;
  }

  /** True when no partial frame or line is buffered (a clean cut between frames). */
  get idle(): boolean {
    return this.pending.length === 0 && this.fields === null && !this.discarding;
  }

  private line(data: string, start: number, end: number, rawLength: number, out: AmiDecoded[]): void {
    const cut = this.nextLineCut;
    this.nextLineCut = false;
    if (start === end) {
      // Blank line: end of frame.
      if (this.discarding) {
        this.discarding = false;
      } else if (this.fields !== null) {
        out.push({ type: 'message', message: this.fields });
      }
      this.fields = null;
      this.frameSize = 0;
      return;
    }
    if (this.discarding) return;
    // A long line counts as the part of it that is kept.
    this.frameSize += Math.min(rawLength, this.maxLineChars + 2);
    if (this.frameSize > this.maxFrameBytes) {
      this.startDiscarding(this.frameSize, out);
      return;
    }
    const colon = data.indexOf(':', start);
    if (this.expectGreeting) {
      this.expectGreeting = false;
      const line = data.slice(start, end);
      if (line.startsWith(GREETING_PREFIX) || colon < 0 || colon >= end) {
        this.frameSize = 0;
        const version = line.startsWith(GREETING_PREFIX) ? line.slice(GREETING_PREFIX.length) : '';
        out.push({ type: 'greeting', version, line: line.slice(0, this.maxReportedLine) });
        return;
      }
    }
    if (colon < 0 || colon >= end || colon - start > MAX_KEY_CHARS) {
      this.malformed(data, start, end, out);
      return;
    }
    let key = data.slice(start, colon);
    // Keys never carry spaces on the wire; trim only when a sloppy peer added some.
    if (key.charCodeAt(0) === 32 || key.charCodeAt(key.length - 1) === 32) key = key.trim();
    if (key.length === 0) {
      this.malformed(data, start, end, out);
      return;
    }
    // "Key: Value": one space after the colon by convention; tolerate none or several.
    let valueStart = colon + 1;
    while (valueStart < end && data.charCodeAt(valueStart) === 32) valueStart++;
    let value = data.slice(valueStart, end);
    if (cut || value.length > this.maxValueChars) {
      value = cut && value.length <= this.maxValueChars ? value + TRUNCATION_MARK : truncateValue(value, this.maxValueChars);
      this.noteTruncated(key, out);
    }
    const fields = (this.fields ??= Object.create(null) as AmiMessage);
    const previous = fields[key];
    fields[key] = previous === undefined ? value : `${previous}\n${value}`;
  }

  private malformed(data: string, start: number, end: number, out: AmiDecoded[]): void {
    this.stats.malformedLines += 1;
    out.push({ type: 'malformed', line: data.slice(start, Math.min(end, start + this.maxReportedLine)) });
  }

  private noteTruncated(key: string, out: AmiDecoded[]): void {
    this.stats.truncatedValues += 1;
    if (this.truncationReported) return;
    this.truncationReported = true;
    out.push({ type: 'truncated', key: key.slice(0, 60), limit: this.maxValueChars });
  }

  private startDiscarding(bytes: number, out: AmiDecoded[]): void {
    this.stats.oversizedFrames += 1;
    out.push({ type: 'oversized', bytes, limit: this.maxFrameBytes });
    this.discarding = true;
    this.fields = null;
    this.frameSize = 0;
  }
}

/** Field values for an action; an array repeats the key (e.g. several `Variable:` lines). */
export type AmiActionFields = Record<string, string | number | readonly string[] | undefined>;

/**
 * Encodes one action. Values that would break framing (CR or LF) are refused: caller
 * IDs are attacker-controlled and an Originate `CallerID` with an embedded `\r\n` would
 * otherwise inject AMI fields or whole actions.
 */
export function encodeAction(action: string, fields: AmiActionFields = {}): string {
  let out = `Action: ${checkValue('Action', action)}\r\n`;
  for (const key of Object.keys(fields)) {
    const value = fields[key];
    if (value === undefined) continue;
    if (!/^[A-Za-z0-9_()-]+$/.test(key)) {
      throw new CallpopError('CALLPOP_AMI_FRAME', `AMI action ${action}: field name "${key.slice(0, 40)}" is not a valid AMI key`);
    }
    const values = Array.isArray(value) ? (value as readonly string[]) : [String(value)];
    for (const one of values) out += `${key}: ${checkValue(key, one)}\r\n`;
  }
  return `${out}\r\n`;
}

function checkValue(key: string, value: string): string {
  if (/[\r\n]/.test(value)) {
    throw new CallpopError('CALLPOP_AMI_FRAME', `AMI field ${key} contains a line break; refusing to send it (it would inject AMI lines)`);
  }
  return value;
}

/** Encodes a block of fields as a server sends it (events and responses; the simulator uses it). */
export function encodeMessage(fields: Record<string, string | number | undefined>): string {
  let out = '';
  for (const key of Object.keys(fields)) {
    const value = fields[key];
    if (value === undefined) continue;
    out += `${key}: ${String(value).replace(/[\r\n]+/g, ' ')}\r\n`;
  }
  return `${out}\r\n`;
}
