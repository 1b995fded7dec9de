// control.cancel and control.credit: the stream control messages (docs/protocol.md, "Streams").
import { Type, type Static } from '@sinclair/typebox';

export const ControlCancelSchema = Type.Object({
  reason: Type.Optional(Type.String({ maxLength: 1024 })),
});
export type ControlCancel = Static<typeof ControlCancelSchema>;

export const ControlCreditSchema = Type.Object({
  credits: Type.Integer({ minimum: 1, maximum: 1_000_000 }),
});
export type ControlCredit = Static<typeof ControlCreditSchema>;
