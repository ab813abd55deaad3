/**
 * Which of the media types a route can answer with the request's Accept header prefers
 * (RFC 9110 §12.5.1): the highest quality wins, then the more specific range, then the route's
 * own order. No header, or one that allows anything, gets the route's first type; null when
 * the header allows none of them (answered with 406).
 */
export function preferredMediaType(accept: string | undefined, offered: readonly string[]): string | null {
  if (accept === undefined || accept.trim() === '') return offered[0] ?? null;
  const ranges = accept.split(',').map((part) => {
    const [range = '', ...params] = part.trim().toLowerCase().split(';').map((s) => s.trim());
    const q = params.find((p) => p.startsWith('q='));
    const quality = q === undefined ? 1 : Number(q.slice(2));
    return { range, quality: Number.isFinite(quality) ? quality : 0 };
  });
  let best: { type: string; quality: number; specificity: number } | null = null;
  for (const type of offered) {
    const [major] = type.split('/');
    for (const r of ranges) {
      const specificity = r.range === type ? 2 : r.range === `${major}/*` ? 1 : r.range === '*/*' ? 0 : -1;
      if (specificity < 0 || r.quality <= 0) continue;
      if (!best || r.quality > best.quality || (r.quality === best.quality && specificity > best.specificity)) best = { type, quality: r.quality, specificity };
    }
  }
  return best?.type ?? null;
}
