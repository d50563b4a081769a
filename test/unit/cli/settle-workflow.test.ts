import { ActivityFailure, ApplicationFailure, WorkflowFailedError } from '@temporalio/client';
import { RetryState } from '@temporalio/common';
import { settleWorkflow } from '../../../cli/common';

describe('settleWorkflow', () => {
  afterEach(() => {
    process.exitCode = undefined;
    jest.restoreAllMocks();
  });

  it('returns the result of a workflow that completed', async () => {
    await expect(settleWorkflow(Promise.resolve({ ok: 1 }), 'pipeline', 'http://ui')).resolves.toEqual({ ok: 1 });
    expect(process.exitCode).toBeUndefined();
  });

  it('prints the innermost cause with its type, sets the failure exit code and resolves to undefined', async () => {
    const write = jest.spyOn(process.stderr, 'write').mockImplementation(() => true);
    const app = ApplicationFailure.create({
      message: 'bucket seerflow-x does not exist',
      type: 'BucketMissing',
      nonRetryable: true,
    });
    const activity = new ActivityFailure(
      'activity failed',
      'listPartition',
      '1',
      RetryState.NON_RETRYABLE_FAILURE,
      undefined,
      app,
    );
    const failed = new WorkflowFailedError('Workflow execution failed', activity, RetryState.NON_RETRYABLE_FAILURE);
    await expect(settleWorkflow(Promise.reject(failed), 'ingest', 'http://ui/wf')).resolves.toBeUndefined();
    expect(write).toHaveBeenCalledWith(
      'ingest failed: bucket seerflow-x does not exist [BucketMissing]\nsee http://ui/wf\n',
    );
    expect(process.exitCode).toBe(1);
  });

  it('lets other errors through', async () => {
    await expect(settleWorkflow(Promise.reject(new Error('connection refused')), 'pipeline', 'u')).rejects.toThrow(
      'connection refused',
    );
  });
});
