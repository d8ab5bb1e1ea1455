// Status conditions the Kubernetes way (API conventions, metav1.Condition): every type is set
// on the first visit, `Unknown` until known; `observedGeneration` says which spec it describes;
// `lastTransitionTime` moves only when the status changes, so watchers can tell "since when".
export type ConditionStatus = 'True' | 'False' | 'Unknown';
export const CONDITION_TYPES = ['Ready', 'Progressing', 'Degraded', 'Conflict'] as const;
export type ConditionType = (typeof CONDITION_TYPES)[number];

export interface Condition {
  type: string;
  status: ConditionStatus;
  /** CamelCase machine-readable reason (required by metav1.Condition). */
  reason: string;
  message: string;
  observedGeneration?: number;
  lastTransitionTime: string;
}

export type ConditionUpdate = Omit<Condition, 'lastTransitionTime' | 'observedGeneration'>;

/** Set (or add) one condition. Returns a new array; the input is not modified. */
export function setCondition(
  conditions: readonly Condition[],
  update: ConditionUpdate,
  generation: number | undefined,
  now: Date,
): Condition[] {
  const existing = conditions.find((c) => c.type === update.type);
  const lastTransitionTime =
    existing && existing.status === update.status ? existing.lastTransitionTime : now.toISOString();
  const next: Condition = { ...update, lastTransitionTime };
  if (generation !== undefined) next.observedGeneration = generation;
  return existing ? conditions.map((c) => (c.type === update.type ? next : c)) : [...conditions, next];
}

/** Add every condition type that is missing as `Unknown` (first visit). */
export function initConditions(conditions: readonly Condition[], generation: number | undefined, now: Date): Condition[] {
  let out = [...conditions];
  for (const type of CONDITION_TYPES) {
    if (!out.some((c) => c.type === type)) {
      out = setCondition(out, { type, status: 'Unknown', reason: 'Reconciling', message: 'not yet reconciled' }, generation, now);
    }
  }
  return out;
}

export const findCondition = (conditions: readonly Condition[] | undefined, type: string): Condition | undefined =>
  conditions?.find((c) => c.type === type);

/** True when two condition lists say the same thing (ignoring order), so a status write can be skipped. */
export function sameConditions(a: readonly Condition[], b: readonly Condition[]): boolean {
  if (a.length !== b.length) return false;
  return a.every((x) => {
    const y = b.find((c) => c.type === x.type);
    return (
      y !== undefined &&
      y.status === x.status &&
      y.reason === x.reason &&
      y.message === x.message &&
      y.observedGeneration === x.observedGeneration &&
      y.lastTransitionTime === x.lastTransitionTime
    );
  });
}
