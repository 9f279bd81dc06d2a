/**
 * The small pieces every section of the report page is built from: escaping, number formats,
 * tables, figures and images as data: URIs.
 */
import type { ReportImage } from './inputs.js';
import type { Figure } from './charts.js';

export function escapeHtml(s: unknown): string {
  return String(s).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

export const f4 = (x: number | undefined): string => (x === undefined || !Number.isFinite(x) ? '–' : x.toFixed(4));
export const pct = (x: number | undefined, digits = 2): string => (x === undefined || !Number.isFinite(x) ? '–' : `${(100 * x).toFixed(digits)}%`);
export const int = (x: number): string => x.toLocaleString('en-US').replace(/,/g, '\u202f');
export const g3 = (x: number | undefined): string => (x === undefined || !Number.isFinite(x) ? '–' : Number(x.toPrecision(3)).toString());

export function base64(bytes: Uint8Array | string): string {
  return Buffer.from(typeof bytes === 'string' ? Buffer.from(bytes, 'utf8') : bytes).toString('base64');
}

/** A figure as an <img> with an SVG data: URI (each SVG stays isolated: vega's ids cannot clash). */
export function figureHtml(fig: Figure, alt: string, caption: string, id?: string): string {
  return `<figure${id ? ` id="${escapeHtml(id)}"` : ''}><img src="data:image/svg+xml;base64,${base64(fig.svg)}" width="${Math.round(fig.width)}" height="${Math.round(fig.height)}" alt="${escapeHtml(alt)}"><figcaption>${caption}</figcaption></figure>`;
}

export function imageHtml(img: ReportImage | undefined, alt: string): string {
  if (!img) return '<span class="missing">no image</span>';
  if ('missing' in img) return `<span class="missing">${escapeHtml(img.missing)}</span>`;
  return `<img class="pixel" src="data:${img.mime};base64,${base64(img.bytes)}" alt="${escapeHtml(alt)}">`;
}

export function table(head: readonly string[], rows: readonly (readonly string[])[], cls = ''): string {
  return `<table${cls ? ` class="${cls}"` : ''}><thead><tr>${head.map((h) => `<th>${h}</th>`).join('')}</tr></thead><tbody>${rows
    .map((r) => `<tr>${r.map((c) => `<td>${c}</td>`).join('')}</tr>`)
    .join('')}</tbody></table>`;
}

export function keyValues(rows: readonly (readonly [string, string])[]): string {
  return `<table class="kv"><tbody>${rows.map(([k, v]) => `<tr><th>${k}</th><td>${v}</td></tr>`).join('')}</tbody></table>`;
}

export const yes = (ok: boolean): string => (ok ? '<span class="ok">passed</span>' : '<span class="bad">FAILED</span>');
