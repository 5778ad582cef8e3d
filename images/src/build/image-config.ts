// From a plan and the layers an executor produced to the OCI image config: the base's
// layers and history, then one history entry per step (config-only steps marked
// empty_layer), the final runtime config, and the build platform.
import { invalidArgument } from '@flotilla/common';
import type { Digest, ImageConfig } from '../types.js';
import type { BaseSource, BuildPlan, PlanStep, StagePlan } from './types.js';

export interface StageChain {
  /** Where the chain starts: scratch or an image (never another stage). */
  root: Exclude<BaseSource, { kind: 'stage' }>;
  /** Every non-base step from the root to the stage, in order (FROM-stage chains flattened). */
  steps: PlanStep[];
}

function findStage(plan: BuildPlan, index: number): StagePlan {
  const stage = plan.stages.find((s) => s.index === index);
  if (!stage) {
    throw invalidArgument(
      `stage ${index} is not in the plan: planned are ${plan.stages.map((s) => s.index).join(', ')}`,
      {
        field: 'stage',
        value: index,
      },
    );
  }
  return stage;
}

/** A stage's steps back to its scratch or image root, following FROM <stage>. */
export function stageChain(plan: BuildPlan, index: number = plan.target): StageChain {
  const stage = findStage(plan, index);
  const [first, ...rest] = stage.steps;
  if (first?.kind !== 'base')
    throw invalidArgument(`stage ${index} does not start with its base step`, { value: index });
  if (first.base.kind === 'stage') {
    const parent = stageChain(plan, first.base.stage);
    return { root: parent.root, steps: [...parent.steps, ...rest] };
  }
  return { root: first.base, steps: rest };
}

export interface BuildImageConfigInput {
  plan: BuildPlan;
  /** Default: the plan's target. */
  stage?: number;
  /**
   * The diff ID of each layer step (copy, run) of the chain, in order; undefined for a
   * step that changed nothing (recorded as an empty layer, as BuildKit does).
   */
  diffIds: (Digest | undefined)[];
  /** RFC 3339 creation time for the new history entries and the image. */
  created: string;
}

export function buildImageConfig(input: BuildImageConfigInput): ImageConfig {
  const { plan } = input;
  const index = input.stage ?? plan.target;
  const chain = stageChain(plan, index);
  const layerSteps = chain.steps.filter((s) => !s.emptyLayer);
  if (layerSteps.length !== input.diffIds.length) {
    throw invalidArgument(
      `stage ${index} has ${layerSteps.length} layer steps but ${input.diffIds.length} diff IDs were given`,
      { field: 'diffIds', value: input.diffIds.length },
    );
  }
  const base = chain.root.kind === 'image' ? chain.root.config : undefined;
  const diffIds = [...(base?.rootfs.diff_ids ?? [])];
  const history = [...(base?.history ?? [])];
  let layer = 0;
  for (const step of chain.steps) {
    const entry: NonNullable<ImageConfig['history']>[number] = {
      created: input.created,
      created_by: step.instruction,
      comment: 'flotilla build',
    };
    if (step.emptyLayer) entry.empty_layer = true;
    else {
      const diffId = input.diffIds[layer++];
      if (diffId === undefined) entry.empty_layer = true;
      else diffIds.push(diffId);
    }
    history.push(entry);
  }
  return {
    created: input.created,
    architecture: plan.platform.architecture,
    os: plan.platform.os,
    config: structuredClone(findStage(plan, index).config),
    rootfs: { type: 'layers', diff_ids: diffIds },
    history,
  };
}
