import { useEffect, useState } from "react";

/** Where a paged list stands: the cursor of the page shown, and how to move between pages. */
export interface CursorPages {
  /** The `after` argument of the page shown (null: the first page). */
  after: string | null;
  /** How many rows the pages before this one hold. */
  pageStart: number;
  hasPrevious: boolean;
  previous: () => void;
  /** To the page after the one shown, which ends at `endCursor`. */
  next: (endCursor: string | null | undefined) => void;
}

/**
 * Forward-only cursor pagination with a way back: the cursors of the pages before the current
 * one are kept, so "Previous page" can return to them. Back to the first page whenever one of
 * `resetWhen` changes (a new filter, another project).
 */
export function useCursorPages(pageSize: number, resetWhen: readonly unknown[] = []): CursorPages {
  const [cursors, setCursors] = useState<Array<string | null>>([]);
  const [after, setAfter] = useState<string | null>(null);

  useEffect(() => {
    setCursors([]);
    setAfter(null);
    // The caller's values decide when to start again, not the setters.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, resetWhen);

  return {
    after,
    pageStart: cursors.length * pageSize,
    hasPrevious: cursors.length > 0,
    previous: () => {
      setAfter(cursors.at(-1) ?? null);
      setCursors(cursors.slice(0, -1));
    },
    next: (endCursor) => {
      setCursors([...cursors, after]);
      setAfter(endCursor ?? null);
    },
  };
}
