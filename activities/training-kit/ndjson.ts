/**
 * Newline-delimited JSON framing of the training protocol (docs/training-kit.md): one JSON object per line, UTF-8.
 * A stream may cut anywhere (inside a line, inside a multi-byte character); the decoder keeps the remainder.
 */
import { StringDecoder } from 'node:string_decoder';

/** Longest line accepted: messages are small pointers and results, never data. */
export const MAX_LINE_CHARS = 16 * 1024 * 1024;

/** One message as a line. JSON.stringify never emits a raw newline, so the line cannot break early. */
export function encodeLine(message: object): string {
  return `${JSON.stringify(message)}\n`;
}

/** A line that is not a JSON object, or one longer than {@link MAX_LINE_CHARS}. */
export class FramingError extends Error {
  override readonly name = 'FramingError';
}

/** Splits a byte stream into messages. */
export class LineDecoder {
  private readonly text = new StringDecoder('utf8');
  private pending = '';

  /** The complete messages in `chunk` (and before it); the partial last line is kept for the next chunk. */
  push(chunk: Uint8Array | string): unknown[] {
    this.pending += typeof chunk === 'string' ? chunk : this.text.write(Buffer.from(chunk));
    const lines = this.pending.split('\n');
    this.pending = lines.pop() ?? '';
    if (this.pending.length > MAX_LINE_CHARS) throw new FramingError(`a line longer than ${MAX_LINE_CHARS} characters`);
    return lines.filter((l) => l.trim() !== '').map(parseLine);
  }

  /** The stream ended: a partial last line is an error. */
  end(): void {
    const rest = this.pending + this.text.end();
    this.pending = '';
    if (rest.trim() !== '') throw new FramingError(`stream ended inside a line: ${rest.slice(0, 80)}`);
  }
}

function parseLine(line: string): unknown {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    throw new FramingError(`not a JSON line: ${line.slice(0, 80)}`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw new FramingError(`not a JSON object: ${line.slice(0, 80)}`);
  return value;
}
