// The schema of the admission controller's options (admission.ts). They often come from a
// configuration file, so each is checked at run time by optionsCheck.
import { Type } from '@sinclair/typebox';
import { optionsCheck } from '../../protocol/index.js';
import { TenantLimitsSchema } from './tenant-limits.js';

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
