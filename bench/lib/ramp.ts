export interface StepResult {
  rate: number;
  planned: number;
  successful: number;
  failed: number;
  seconds: number;
  passed: boolean;
}

export interface RampResult {
  /** Highest rate whose step passed; 0 when none did. */
  best: number;
  steps: StepResult[];
}

export interface RampPlan {
  start: number;
  factor: number;
  max: number;
  /** After the first failure, try the midpoint between the last pass and the failure once. */
  refine: boolean;
}

/** Raises the rate step by step until a step fails, then (optionally) probes the gap once. */
export async function ramp(plan: RampPlan, step: (rate: number) => Promise<StepResult>): Promise<RampResult> {
  const steps: StepResult[] = [];
  let best = 0;
  let rate = plan.start;
  let failedAt = 0;
  while (rate <= plan.max) {
    const result = await step(rate);
    steps.push(result);
    if (!result.passed) {
      failedAt = rate;
      break;
    }
    best = rate;
    rate = Math.round(rate * plan.factor);
  }
  const middle = Math.round((best + failedAt) / 2);
  if (plan.refine && best > 0 && failedAt > 0 && middle > best && middle < failedAt) {
    const result = await step(middle);
    steps.push(result);
    if (result.passed) best = middle;
  }
  return { best, steps };
}
