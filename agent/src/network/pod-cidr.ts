// Which pod CIDR the node uses (pure). The controller's registration answer is
// authoritative; the agent keeps it in node.json and uses it at the next start until the
// controller answers again. --pod-cidr is only a request for the first registration.
import { ipv4CidrProblem } from './config.js';

/** At start: the controller's last answer, else the request; empty: wait for the controller. */
export function podCidrAtStart(persisted: string | undefined, requested: string | undefined): string {
  return persisted ?? requested ?? '';
}

export interface PodCidrDecision {
  /** The CIDR to use from now on ('' while still unknown). */
  cidr: string;
  /** Write it to node.json (it differs from what is kept there). */
  persist: boolean;
  /** Said when the answer replaces a CIDR already in use, or cannot be used. */
  warning?: string;
}

/**
 * After a registration. An answer without a CIDR (a controller that does not allocate)
 * keeps the one in use; an invalid one is ignored with a warning.
 */
export function podCidrFromRegistration(
  current: string,
  answered: string | undefined,
  persisted: string | undefined,
): PodCidrDecision {
  if (answered === undefined || answered === '') return { cidr: current, persist: false };
  const problem = ipv4CidrProblem(answered);
  if (problem !== undefined)
    return {
      cidr: current,
      persist: false,
      warning: `the controller assigned pod CIDR ${JSON.stringify(answered)}, which ${problem}; keeping ${current || 'none'}`,
    };
  return {
    cidr: answered,
    persist: answered !== persisted,
    ...(current !== '' && current !== answered
      ? {
          warning: `the controller assigned pod CIDR ${answered}, not ${current} in use so far: new pods get addresses from ${answered}; running pods keep theirs until they are restarted`,
        }
      : {}),
  };
}
