import assert from 'node:assert/strict';
import type { Logger } from '../src/model/logger.js';
import { ResyncGate } from '../src/pbx/resync-gate.js';

/** A logger that records warn/error lines. */
function recordingLogger(): Logger & { lines: { level: string; msg: string; obj: Record<string, unknown> }[] } {
  const lines: { level: string; msg: string; obj: Record<string, unknown> }[] = [];
  const at = (level: string) => (obj: object | string, msg?: string) => {
    lines.push({ level, msg: msg ?? String(obj), obj: typeof obj === 'object' ? (obj as Record<string, unknown>) : {} });
  };
  const logger = { trace() {}, debug() {}, info() {}, warn: at('warn'), error: at('error'), child: () => logger, lines };
  return logger;
}

describe('resync gate (where PBX events enter callpop)', () => {
  it('passes events straight through when no resync is running', () => {
    const seen: number[] = [];
    const gate = new ResyncGate<number>((n) => seen.push(n), recordingLogger());
    gate.push(1);
    gate.push(2);
    assert.deepEqual(seen, [1, 2]);
  });

  it('holds events during a resync and replays them in order afterwards', () => {
    const seen: number[] = [];
    const gate = new ResyncGate<number>((n) => seen.push(n), recordingLogger());
    gate.hold();
    gate.push(1);
    gate.push(2);
    assert.deepEqual(seen, []);
    gate.release();
    gate.push(3);
    assert.deepEqual(seen, [1, 2, 3]);
  });

  it('bounds what it holds and reports the dropped events in one line, not one per event', () => {
    const seen: number[] = [];
    const log = recordingLogger();
    const gate = new ResyncGate<number>((n) => seen.push(n), log, 3);
    gate.hold();
    for (let i = 0; i < 1000; i++) gate.push(i);
    gate.release();
    assert.deepEqual(seen, [0, 1, 2]);
    const warnings = log.lines.filter((l) => l.level === 'warn');
    assert.equal(warnings.length, 1);
    assert.equal(warnings[0]?.obj.dropped, 997);
  });

  it('skips an event whose processing throws, logs it, and keeps delivering the next ones', () => {
    const seen: number[] = [];
    const log = recordingLogger();
    const gate = new ResyncGate<number>((n) => {
      if (n === 2) throw new Error('normaliser bug');
      seen.push(n);
    }, log);
    assert.doesNotThrow(() => [1, 2, 3].forEach((n) => gate.push(n)));
    assert.deepEqual(seen, [1, 3]);
    assert.match(log.lines.find((l) => l.level === 'error')?.obj.err as string, /normaliser bug/);
  });
});
