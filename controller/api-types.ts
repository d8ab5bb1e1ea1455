// The VendorPool resource as the API server serves it (spec unvalidated: the controller
// validates it again with the zod schema), its status, and the API paths the controller uses;
// also the Kubernetes envelope around core's spec schema, for whole documents (local mode's
// YAML files).
import { z } from 'zod';
import { dnsLabel, vendorPoolSpecSchema } from '../core/vendorpool.js';
import type { Condition } from './conditions.js';

export const GROUP = 'vendorfetch.io';
export const VERSION = 'v1alpha1';
export const API_VERSION = `${GROUP}/${VERSION}`;
export const PLURAL = 'vendorpools';
export const FINALIZER = 'vendorfetch.io/registry';
export const FIELD_MANAGER = 'vendorfetch-controller';

/** A whole VendorPool document, as in a YAML file or from the API server. */
export const vendorPoolSchema = z.object({
  apiVersion: z.literal(API_VERSION),
  kind: z.literal('VendorPool'),
  metadata: z.object({ name: dnsLabel, namespace: z.string().optional() }).loose(),
  spec: vendorPoolSpecSchema,
});

export interface ObjectMeta {
  name: string;
  namespace: string;
  uid: string;
  generation?: number;
  resourceVersion?: string;
  creationTimestamp?: string;
  deletionTimestamp?: string;
  finalizers?: string[];
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

export interface VendorStatus {
  name: string;
  lag: number;
  pending: number;
  circuit: string;
  /** spec.vendors[].paused, as published: its workers call nothing and its lag does not scale them. */
  paused: boolean;
}

export interface VendorPoolStatus {
  observedGeneration?: number;
  replicas?: number;
  readyReplicas?: number;
  lag?: number;
  /** Worker pods in phase Pending (counted while some workers are not ready; else 0). */
  pendingPods?: number;
  /** Of those, the pods the scheduler cannot place (see the Ready condition's message). */
  unschedulablePods?: number;
  vendorNames?: string;
  vendors?: VendorStatus[];
  conditions?: Condition[];
}

export interface VendorPoolObject {
  apiVersion: string;
  kind: 'VendorPool';
  metadata: ObjectMeta;
  spec: unknown;
  status?: VendorPoolStatus;
}

export const paths = {
  pools: (ns?: string) => (ns ? `/apis/${GROUP}/${VERSION}/namespaces/${ns}/${PLURAL}` : `/apis/${GROUP}/${VERSION}/${PLURAL}`),
  pool: (ns: string, name: string) => `/apis/${GROUP}/${VERSION}/namespaces/${ns}/${PLURAL}/${name}`,
  poolStatus: (ns: string, name: string) => `/apis/${GROUP}/${VERSION}/namespaces/${ns}/${PLURAL}/${name}/status`,
  deployments: (ns?: string) => (ns ? `/apis/apps/v1/namespaces/${ns}/deployments` : '/apis/apps/v1/deployments'),
  deployment: (ns: string, name: string) => `/apis/apps/v1/namespaces/${ns}/deployments/${name}`,
};

export const poolKey = (m: { namespace?: string; name: string }): string => `${m.namespace ?? ''}/${m.name}`;
export function splitKey(key: string): { namespace: string; name: string } {
  const i = key.indexOf('/');
  return { namespace: key.slice(0, i), name: key.slice(i + 1) };
}
