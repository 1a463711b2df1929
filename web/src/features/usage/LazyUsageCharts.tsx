import { lazy, Suspense, type ComponentProps } from "react";

import { Loading } from "../../components/Notice";

/**
 * The charts (and uPlot with them) load with the first page that draws one, not with the
 * console: the other pages never need them. A page starts the download as it opens, so it runs
 * alongside the page's query.
 */
const load = () => import("./UsageCharts");

const Charts = lazy(() => load().then((module) => ({ default: module.UsageCharts })));

export function preloadUsageCharts(): void {
  void load();
}

export function UsageCharts(props: ComponentProps<typeof Charts>) {
  return (
    <Suspense fallback={<Loading label="Drawing the charts…" />}>
      <Charts {...props} />
    </Suspense>
  );
}
