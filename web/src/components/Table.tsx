import type { ReactNode } from "react";

type TableProps = {
  caption: string;
  /** Hide the caption visually (the page heading already says it) but keep it for screen readers. */
  captionHidden?: boolean;
  head: ReactNode;
  children: ReactNode;
};

/**
 * A data table. At narrow widths its CSS lays each row out as a card, labelling each cell with its
 * column name (`data-label`), instead of scrolling sideways.
 */
export function Table({ caption, captionHidden = true, head, children }: TableProps) {
  return (
    // Focusable and named, so a keyboard can scroll a table wider than the screen.
    <div className="table-wrap" role="region" aria-label={caption} tabIndex={0}>
      <table className="table">
        <caption className={captionHidden ? "visually-hidden" : "table__caption"}>{caption}</caption>
        <thead>{head}</thead>
        <tbody>{children}</tbody>
      </table>
    </div>
  );
}

type PaginationProps = {
  label: string;
  summary: string;
  hasPrevious: boolean;
  hasNext: boolean;
  onPrevious: () => void;
  onNext: () => void;
};

export function Pagination({ label, summary, hasPrevious, hasNext, onPrevious, onNext }: PaginationProps) {
  return (
    <nav className="pagination" aria-label={label}>
      <p className="pagination__summary">{summary}</p>
      {(hasPrevious || hasNext) && (
        <div className="pagination__buttons">
          <button type="button" className="button button--secondary button--small" disabled={!hasPrevious} onClick={onPrevious}>
            Previous page
          </button>
          <button type="button" className="button button--secondary button--small" disabled={!hasNext} onClick={onNext}>
            Next page
          </button>
        </div>
      )}
    </nav>
  );
}
