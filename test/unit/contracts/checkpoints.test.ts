/** The one rule for the newest checkpoint: most progress wins, the first listed wins a tie, absent ones drop out. */
import { newestFirst, newestPointer } from '../../../contracts/checkpoints';

const p = (key: string, step: number) => ({ key, step });
const byStep = (x: { step: number }) => x.step;

describe('newestPointer', () => {
  it('takes the candidate with the most progress', () => {
    expect(newestPointer([p('a', 4), p('b', 12), p('c', 8)], byStep)?.key).toBe('b');
  });

  it('keeps the first listed on a tie, so callers state their preference by order', () => {
    expect(newestPointer([p('heartbeat', 8), p('workflow', 8)], byStep)?.key).toBe('heartbeat');
    expect(newestPointer([p('workflow', 8), p('heartbeat', 8)], byStep)?.key).toBe('workflow');
  });

  it('drops absent candidates; none gives undefined', () => {
    expect(newestPointer([undefined, p('a', 1), undefined], byStep)?.key).toBe('a');
    expect(newestPointer<{ key: string; step: number }>([undefined, undefined], byStep)).toBeUndefined();
    expect(newestPointer([], byStep)).toBeUndefined();
  });

  it('orders every candidate newest first, stable among equals', () => {
    const order = newestFirst([p('a', 4), undefined, p('b', 12), p('c', 4), p('d', 12)], byStep).map((x) => x.key);
    expect(order).toEqual(['b', 'd', 'a', 'c']);
  });
});
