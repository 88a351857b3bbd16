// Addressing plan shared by every DUT, so all three see identical traffic.
import type { Family } from '../../dataplane/types.js';

export interface FamilyPlan {
  family: Family;
  /** DUT ingress address (the generator's subnet) and egress address. */
  dutIn: string;
  dutOut: string;
  /** Source of the traffic (on the generator's subnet) and the sink's address (next hop). */
  gen: string;
  sink: string;
  /** The route the traffic uses and its destination inside it. */
  route: string;
  dst: string;
}

export const PLAN: Record<Family, FamilyPlan> = {
  4: { family: 4, dutIn: '10.10.0.1/24', dutOut: '10.20.0.1/24', gen: '10.10.0.2', sink: '10.20.0.2', route: '198.18.0.0/16', dst: '198.18.0.1' },
  6: {
    family: 6,
    dutIn: '2001:db8:10::1/64',
    dutOut: '2001:db8:20::1/64',
    gen: '2001:db8:10::2',
    sink: '2001:db8:20::2',
    route: '2001:db8:18::/48',
    dst: '2001:db8:18::1',
  },
};

export const FAMILIES: readonly Family[] = [4, 6];

/** "1M", "100k", "1" — for table labels and JSON keys. */
export function routesLabel(n: number): string {
  if (n >= 1_000_000 && n % 1_000_000 === 0) return `${n / 1_000_000}M`;
  if (n >= 1000 && n % 1000 === 0) return `${n / 1000}k`;
  return String(n);
}
