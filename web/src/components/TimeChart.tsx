import { useEffect, useRef, useState } from "react";
import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";

export type ChartSeries = {
  label: string;
  values: number[];
  /** Any CSS colour; drawn on the canvas, so the CSP has nothing to say about it. */
  color: string;
  kind: "bars" | "line";
  format: (value: number) => string;
};

type TimeChartProps = {
  /** Bucket starts in Unix seconds. */
  x: number[];
  /** Seconds per bucket (bars are this wide, the time axis padded by half of it). */
  step: number;
  series: ChartSeries[];
  /** The text alternative: what the chart shows, in a sentence (the table beside it has every number). */
  summary: string;
  yFormat: (value: number) => string;
  /** Place the time axis's ticks on UTC days and hours (day buckets are UTC days), not local ones. */
  utc?: boolean;
  /** A time axis label, from a tick's Unix seconds. */
  xFormat: (seconds: number) => string;
  bucketLabel: (index: number) => string;
  height?: number;
  /** Called after each draw (the usage page marks its first one for timing). */
  onDrawn?: () => void;
};

const AXIS = {
  stroke: "#556070",
  font: "12px system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif",
  grid: { stroke: "#e6e9ee", width: 1 },
  ticks: { stroke: "#dde1e7", width: 1, size: 4 },
};

/**
 * A time series drawn by uPlot (canvas; its few inline styles are set through the CSSOM, which
 * the console's CSP allows). uPlot's own legend is off: the legend here is plain markup, and
 * the readout under the chart says the numbers of the bucket under the pointer.
 */
export function TimeChart(props: TimeChartProps) {
  const { x, step, utc = false, series, summary, yFormat, xFormat, bucketLabel, height = 220, onDrawn } = props;
  const holder = useRef<HTMLDivElement>(null);
  const [cursor, setCursor] = useState<number | null>(null);
  const drawn = useRef(onDrawn);
  drawn.current = onDrawn;

  useEffect(() => {
    const element = holder.current;
    if (!element) return;
    const options: uPlot.Options = {
      width: Math.max(element.clientWidth, 200),
      height,
      legend: { show: false },
      cursor: { y: false, points: { show: false }, drag: { x: false, y: false } },
      select: { show: false, left: 0, top: 0, width: 0, height: 0 },
      scales: {
        x: { time: true, range: (_u, min, max) => [min - step / 2, max + step / 2] },
        y: { range: (_u, _min, max) => [0, max > 0 ? max * 1.1 : 1] },
      },
      axes: [
        { ...AXIS, space: 64, values: (_u, splits) => splits.map(xFormat) },
        { ...AXIS, size: 64, values: (_u, splits) => splits.map(yFormat) },
      ],
      series: [
        {},
        ...series.map((s) => ({
          label: s.label,
          stroke: s.color,
          width: s.kind === "line" ? 2 : 0,
          fill: s.kind === "bars" ? s.color : undefined,
          points: { show: s.kind === "line" && x.length <= 40, size: 5, fill: s.color },
          paths: s.kind === "bars" ? uPlot.paths.bars?.({ size: [0.7, 40], gap: 1 }) : undefined,
        })),
      ],
      hooks: {
        setCursor: [(u) => setCursor(u.cursor.idx ?? null)],
        draw: [() => drawn.current?.()],
      },
      ...(utc ? { tzDate: (ts: number) => uPlot.tzDate(new Date(ts * 1000), "Etc/UTC") } : {}),
    };
    const chart = new uPlot(options, [x, ...series.map((s) => s.values)], element);
    const resize = new ResizeObserver(() => {
      chart.setSize({ width: Math.max(element.clientWidth, 200), height });
    });
    resize.observe(element);
    return () => {
      resize.disconnect();
      chart.destroy();
    };
  }, [x, step, utc, series, yFormat, xFormat, height]);

  const index = cursor !== null && cursor >= 0 && cursor < x.length ? cursor : null;

  return (
    <div className="chart">
      <div ref={holder} className="chart__canvas" role="img" aria-label={summary} />
      <div className="chart__legend" aria-hidden="true">
        {series.map((s) => (
          <span key={s.label} className="chart__key">
            <span className={`chart__swatch chart__swatch--${s.kind}`} style={{ backgroundColor: s.color }} />
            {s.label}
            {index !== null && <strong className="chart__value">{s.format(s.values[index] ?? 0)}</strong>}
          </span>
        ))}
        {index !== null && <span className="chart__when">{bucketLabel(index)}</span>}
      </div>
    </div>
  );
}
