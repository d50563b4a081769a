/** NDJSON framing of the training protocol: lines cut anywhere, several messages per chunk, bad lines refused. */
import { encodeLine, FramingError, LineDecoder } from '../../../../activities/training-kit/ndjson';

describe('NDJSON framing', () => {
  it('encodes one message per line', () => {
    const line = encodeLine({ type: 'progress', step: 3, phase: 'line\nbreak' });
    expect(line.endsWith('\n')).toBe(true);
    expect(line.slice(0, -1)).not.toContain('\n'); // a newline inside a string is escaped
    expect(new LineDecoder().push(line)).toEqual([{ type: 'progress', step: 3, phase: 'line\nbreak' }]);
  });

  it('decodes several messages in one chunk and keeps a partial line for the next', () => {
    const d = new LineDecoder();
    const a = encodeLine({ type: 'hello', protocol: 1 });
    const b = encodeLine({ type: 'progress', step: 1 });
    const c = encodeLine({ type: 'done', result: { loss: 0.5 } });
    const all = a + b + c;
    const cut = a.length + b.length + 7;
    expect(d.push(all.slice(0, cut))).toEqual([
      { type: 'hello', protocol: 1 },
      { type: 'progress', step: 1 },
    ]);
    expect(d.push(all.slice(cut))).toEqual([{ type: 'done', result: { loss: 0.5 } }]);
    d.end();
  });

  it('feeds byte by byte, also inside a multi-byte UTF-8 character', () => {
    const d = new LineDecoder();
    const bytes = Buffer.from(encodeLine({ type: 'error', message: 'Größe ✓ 東京' }) + encodeLine({ type: 'stopped' }));
    const out: unknown[] = [];
    for (const byte of bytes) out.push(...d.push(Uint8Array.of(byte)));
    expect(out).toEqual([{ type: 'error', message: 'Größe ✓ 東京' }, { type: 'stopped' }]);
  });

  it('skips blank lines and refuses a line that is not a JSON object', () => {
    expect(new LineDecoder().push('\n  \n{"type":"stopped"}\n')).toEqual([{ type: 'stopped' }]);
    expect(() => new LineDecoder().push('{"type":\n')).toThrow(FramingError);
    expect(() => new LineDecoder().push('[1,2]\n')).toThrow(/not a JSON object/);
    const d = new LineDecoder();
    d.push('{"type":"pro');
    expect(() => d.end()).toThrow(/ended inside a line/);
  });
});
