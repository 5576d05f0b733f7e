// Small SVG charts: a sparkline, a stacked bar chart over time, and horizontal bars.
import { useId } from "react";
import { formatCount } from "../lib/format";

export const PALETTE = ["var(--chart-1)", "var(--chart-2)", "var(--chart-3)", "var(--chart-4)", "var(--chart-5)", "var(--chart-6)"];

export function Sparkline({ values, height = 34, width = 160, label }: { values: number[]; height?: number; width?: number; label: string }) {
  const gid = useId();
  const max = Math.max(1, ...values);
  const step = values.length > 1 ? width / (values.length - 1) : width;
  const pts = values.map((v, i) => [i * step, height - 2 - (v / max) * (height - 4)] as const);
  const line = pts.map(([x, y], i) => `${i ? "L" : "M"}${x.toFixed(1)},${y.toFixed(1)}`).join(" ");
  const area = `${line} L${width},${height} L0,${height} Z`;
  return (
    <svg className="chart" viewBox={`0 0 ${width} ${height}`} preserveAspectRatio="none" role="img" aria-label={label} height={height}>
      <defs>
        <linearGradient id={gid} x1="0" x2="0" y1="0" y2="1">
          <stop offset="0" stopColor="var(--chart-1)" stopOpacity="0.28" />
          <stop offset="1" stopColor="var(--chart-1)" stopOpacity="0" />
        </linearGradient>
      </defs>
      {values.length > 0 && <path d={area} fill={`url(#${gid})`} />}
      {values.length > 0 && <path d={line} fill="none" stroke="var(--chart-1)" strokeWidth="1.5" vectorEffect="non-scaling-stroke" />}
    </svg>
  );
}

export interface Series {
  name: string;
  values: number[];
}

/** Stacked bars per bucket, one color per series. */
export function StackedBars({ labels, series, height = 200, format = formatCount, label }: { labels: string[]; series: Series[]; height?: number; format?: (n: number) => string; label: string }) {
  const width = 640;
  const padL = 44;
  const padB = 22;
  const padT = 8;
  const n = labels.length;
  const totals = labels.map((_, i) => series.reduce((s, x) => s + (x.values[i] ?? 0), 0));
  const max = niceMax(Math.max(0, ...totals));
  const plotW = width - padL - 4;
  const plotH = height - padB - padT;
  const bw = n ? plotW / n : plotW;
  const barW = Math.max(2, Math.min(36, bw * 0.66));
  const y = (v: number) => padT + plotH - (max ? (v / max) * plotH : 0);
  const ticks = [0, max / 2, max];
  const every = Math.max(1, Math.ceil(n / 8));
  return (
    <svg className="chart" viewBox={`0 0 ${width} ${height}`} role="img" aria-label={label}>
      {ticks.map((t) => (
        <g key={t}>
          <line className="grid-line" x1={padL} x2={width - 4} y1={y(t)} y2={y(t)} />
          <text x={padL - 6} y={y(t) + 3.5} textAnchor="end">
            {format(t)}
          </text>
        </g>
      ))}
      {labels.map((l, i) => {
        let acc = 0;
        const x = padL + i * bw + (bw - barW) / 2;
        return (
          <g key={l + i}>
            {series.map((s, si) => {
              const v = s.values[i] ?? 0;
              if (v <= 0) return null;
              const y0 = y(acc);
              acc += v;
              const y1 = y(acc);
              return (
                <rect key={s.name} x={x} y={y1} width={barW} height={Math.max(0.5, y0 - y1)} rx={2} fill={PALETTE[si % PALETTE.length]}>
                  <title>{`${s.name} · ${l}: ${format(v)}`}</title>
                </rect>
              );
            })}
            {i % every === 0 && (
              <text x={x + barW / 2} y={height - 6} textAnchor="middle">
                {l}
              </text>
            )}
          </g>
        );
      })}
      <line className="axis" x1={padL} x2={width - 4} y1={padT + plotH} y2={padT + plotH} />
    </svg>
  );
}

/** Lines per series over buckets (latency). */
export function Lines({ labels, series, height = 200, format = formatCount, label }: { labels: string[]; series: Series[]; height?: number; format?: (n: number) => string; label: string }) {
  const width = 640;
  const padL = 52;
  const padB = 22;
  const padT = 8;
  const n = labels.length;
  const max = niceMax(Math.max(0, ...series.flatMap((s) => s.values.filter(Number.isFinite))));
  const plotW = width - padL - 8;
  const plotH = height - padB - padT;
  const x = (i: number) => padL + (n > 1 ? (i / (n - 1)) * plotW : plotW / 2);
  const y = (v: number) => padT + plotH - (max ? (v / max) * plotH : 0);
  const every = Math.max(1, Math.ceil(n / 8));
  return (
    <svg className="chart" viewBox={`0 0 ${width} ${height}`} role="img" aria-label={label}>
      {[0, max / 2, max].map((t) => (
        <g key={t}>
          <line className="grid-line" x1={padL} x2={width - 8} y1={y(t)} y2={y(t)} />
          <text x={padL - 6} y={y(t) + 3.5} textAnchor="end">
            {format(t)}
          </text>
        </g>
      ))}
      {series.map((s, si) => {
        const pts = s.values.map((v, i) => (Number.isFinite(v) ? `${x(i).toFixed(1)},${y(v).toFixed(1)}` : null)).filter(Boolean);
        return (
          <g key={s.name}>
            <polyline points={pts.join(" ")} fill="none" stroke={PALETTE[si % PALETTE.length]} strokeWidth={2} strokeLinejoin="round" />
            {s.values.map((v, i) =>
              Number.isFinite(v) ? (
                <circle key={i} cx={x(i)} cy={y(v)} r={2.6} fill={PALETTE[si % PALETTE.length]}>
                  <title>{`${s.name} · ${labels[i]}: ${format(v)}`}</title>
                </circle>
              ) : null,
            )}
          </g>
        );
      })}
      {labels.map((l, i) =>
        i % every === 0 ? (
          <text key={l + i} x={x(i)} y={height - 6} textAnchor="middle">
            {l}
          </text>
        ) : null,
      )}
      <line className="axis" x1={padL} x2={width - 8} y1={padT + plotH} y2={padT + plotH} />
    </svg>
  );
}

export function Legend({ names }: { names: string[] }) {
  return (
    <div className="legend">
      {names.map((n, i) => (
        <span key={n}>
          <i className={`swatch-${i % PALETTE.length}`} />
          {n}
        </span>
      ))}
    </div>
  );
}

export function HBars({ rows, format = formatCount }: { rows: { name: string; value: number; sub?: string }[]; format?: (n: number) => string }) {
  const max = Math.max(1, ...rows.map((r) => r.value));
  return (
    <div className="stack" role="list">
      {rows.map((r, i) => (
        <div key={r.name} className="bar-row" role="listitem">
          <span className="mono truncate" title={r.name}>
            {r.name}
          </span>
          <div className="bar-track">
            <div className={`bar-fill swatch-${i % PALETTE.length}`} style={{ width: `${(r.value / max) * 100}%` }} />
          </div>
          <span className="tnum small" style={{ textAlign: "right" }}>
            {format(r.value)}
          </span>
        </div>
      ))}
    </div>
  );
}

function niceMax(v: number): number {
  if (v <= 0) return 1;
  const exp = Math.pow(10, Math.floor(Math.log10(v)));
  const f = v / exp;
  const nice = f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10;
  return nice * exp;
}
