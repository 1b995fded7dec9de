// One page of a list, as OpenAI's cursor pages are: `limit`, `after` (the last id of the
// previous page) and `order` (by creation; newest first by default).
import { InvalidMessageError } from '../../../protocol/index.js';
import type { Ctx } from '../http.js';

export interface ListPage<T> {
  object: 'list';
  data: T[];
  first_id: string | null;
  last_id: string | null;
  has_more: boolean;
}

/** `items` oldest first -> the page the query asks for. */
export function listPage<T extends { id: string }>(
  ctx: Ctx,
  items: readonly T[],
  maxLimit: number,
  defaultLimit = Math.min(maxLimit, 10_000),
): ListPage<T> {
  const q = ctx.url.searchParams;
  const limit = Number(q.get('limit') ?? defaultLimit);
  if (!Number.isInteger(limit) || limit < 1 || limit > maxLimit) {
    throw new InvalidMessageError(`limit must be an integer from 1 to ${maxLimit}`, {
      details: { param: 'limit' },
    });
  }
  const order = q.get('order') ?? 'desc';
  if (order !== 'asc' && order !== 'desc') {
    throw new InvalidMessageError("order must be 'asc' or 'desc'", {
      details: { param: 'order' },
    });
  }
  const all = order === 'desc' ? [...items].reverse() : items;
  const after = q.get('after');
  const start = after === null ? 0 : all.findIndex((item) => item.id === after) + 1;
  const data = all.slice(start, start + limit);
  return {
    object: 'list',
    data,
    first_id: data[0]?.id ?? null,
    last_id: data.at(-1)?.id ?? null,
    has_more: start + limit < all.length,
  };
}
