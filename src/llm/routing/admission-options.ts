// The admission controller's options (admission.ts) and their schema. They often come from a
// configuration file, so each is checked at run time by optionsCheck.
import { Type } from '@sinclair/typebox';
import type { Logger } from '../../ops/index.js';
import { optionsCheck } from '../../protocol/index.js';
import type { LimitStore } from '../../transport/limits.js';
import type { AdmissionClock } from './queue-expiry.js';
import type { SlotSharing } from './shared-slots.js';
import { TenantLimitsSchema, type TenantLimits } from './tenant-limits.js';

export interface ModelQueueLimits {
  /** Requests waiting for this model at most; more are refused. Default 1000. */
  maxQueueLength?: number;
  /** Longest a request may wait for a slot. Default 30000. */
  maxQueueWaitMs?: number;
}

export interface AdmissionOptions extends ModelQueueLimits {
  /** Limits by tenant id; tenants not listed get `defaultTenantLimits`. */
  tenants?: Readonly<Record<string, TenantLimits>>;
  defaultTenantLimits?: TenantLimits;
  /** Per-model overrides of the queue limits. */
  models?: Readonly<Record<string, ModelQueueLimits>>;
  /** Aging step for the priority classes (see PriorityFairQueue); unset, priority is strict. */
  agingMs?: number;
  /** What fair shares measure: estimated tokens (default) or requests. */
  fairShareBy?: 'tokens' | 'requests';
  /** Service time assumed for retry hints before any request has finished. Default 1000. */
  initialServiceMs?: number;
  clock?: AdmissionClock;
  /**
   * Where tenant buckets live so that every gateway on the broker shares them
   * (Transport.limits); unset, each gateway keeps its own.
   */
  limitStore?: LimitStore;
  /** Longest a limit store call may take before this gateway's own limits answer. Default 1000. */
  limitTimeoutMs?: number;
  /** Where a limit store outage is reported. */
  logger?: Logger;
  /** Share each model's slots with these gateways; unset, this gateway holds all of them. */
  sharing?: SlotSharing;
}

const QueueLength = Type.Integer({ minimum: 0 });
const QueueWaitMs = Type.Number({ minimum: 0, maximum: 2 ** 31 });

/** Checks AdmissionOptions; a bad field is a ConfigError naming it (`tenants.acme.weight`). */
export const checkAdmissionOptions = optionsCheck(
  'admission',
  Type.Object(
    {
      maxQueueLength: Type.Optional(QueueLength),
      maxQueueWaitMs: Type.Optional(QueueWaitMs),
      tenants: Type.Optional(Type.Record(Type.String(), TenantLimitsSchema)),
      defaultTenantLimits: Type.Optional(TenantLimitsSchema),
      models: Type.Optional(
        Type.Record(
          Type.String(),
          Type.Object(
            {
              maxQueueLength: Type.Optional(QueueLength),
              maxQueueWaitMs: Type.Optional(QueueWaitMs),
            },
            { additionalProperties: false },
          ),
        ),
      ),
      agingMs: Type.Optional(Type.Number({ exclusiveMinimum: 0 })),
      fairShareBy: Type.Optional(Type.Union([Type.Literal('tokens'), Type.Literal('requests')])),
      initialServiceMs: Type.Optional(Type.Number({ minimum: 0 })),
      // A clock may be a class instance, whose methods TypeBox's object check does not see.
      clock: Type.Optional(Type.Unknown()),
      limitStore: Type.Optional(Type.Unknown()),
      limitTimeoutMs: Type.Optional(Type.Number({ exclusiveMinimum: 0, maximum: 2 ** 31 })),
      logger: Type.Optional(Type.Unknown()),
      sharing: Type.Optional(Type.Unknown()),
    },
    { additionalProperties: false },
  ),
);
