/** How `seerflow run` / `seerflow eval` / `seerflow status` show the evaluate stage's `evaluateProgress` answer. */
import { barStates, describeSnapshot, evaluateDetail } from '../../../cli/progress';
import type { EvaluateProgress } from '../../../contracts/evaluate';

function progress(over: Partial<EvaluateProgress> = {}): EvaluateProgress {
  return { runName: 'r', done: 0, total: 30, finished: [], finishedDetection: [], ...over };
}

describe('evaluate progress display', () => {
  it('names the run in progress and the newest finished result', () => {
    expect(evaluateDetail(progress())).toBe('preparing data');
    const cls = progress({
      done: 1,
      current: 'linear/pretrained/seed1',
      finished: [{ protocol: 'linear', init: 'pretrained', seed: 0, top1: 58.84 }],
    });
    expect(evaluateDetail(cls)).toBe('running linear/pretrained/seed1, last linear/pretrained/seed0 top-1 58.8');
    const det = progress({
      done: 25,
      current: 'detection/pretrained/seed1',
      finished: cls.finished,
      finishedDetection: [{ init: 'pretrained', seed: 0, ap: 0.0602 }],
    });
    expect(evaluateDetail(det)).toBe('running detection/pretrained/seed1, last detection/pretrained/seed0 AP 6.0');
    expect(evaluateDetail(progress({ done: 30 }))).toBe('summarizing');
  });

  it('gives the evaluate stage a bar of runs (done / total) and a status line', () => {
    const evaluate = progress({ done: 7, current: 'finetune/scratch/seed1' });
    expect(barStates({ evaluate }, false)).toEqual([['evaluate', 30, 7, 'runs | running finetune/scratch/seed1']]);
    expect(describeSnapshot({ status: 'RUNNING', evaluate })).toBe(
      'status RUNNING | evaluate 7/30 runs, running finetune/scratch/seed1',
    );
  });
});
