/** Search attributes the pipeline upserts; the local stack registers them, other clusters need them created once. */
import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';

export const SEER_STAGE = defineSearchAttributeKey('SeerStage', SearchAttributeType.KEYWORD);
export const SEER_EPOCH = defineSearchAttributeKey('SeerEpoch', SearchAttributeType.INT);
export const SEER_RUN = defineSearchAttributeKey('SeerRun', SearchAttributeType.KEYWORD);
