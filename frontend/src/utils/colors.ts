// One stable colour per series key (model, provider, organization id, key id): the
// same key has the same colour on every chart and for every metric.

/** Distinct hues that read on light and dark backgrounds. */
export const SERIES_PALETTE = [
  '#165dff', '#14c9c9', '#f7ba1e', '#722ed1', '#f77234', '#00b42a', '#eb0aa4', '#3491fa',
  '#9fdb1d', '#d91ad9', '#0fc6c2', '#fadc19', '#a871e3', '#ff7d00', '#2f54eb', '#b5a300',
]
/** The colour of the summed rest ("other"): grey, never one of the hues. */
export const OTHER_COLOR = '#86909c'

/** Fixed meanings: outcome series always have these colours. */
export const OUTCOME_COLORS = {
  success: '#14c9c9',
  error: '#f53f3f',
  refused: '#ff9a2e',
} as const

/** FNV-1a, 32 bit: a small, stable hash of a string. */
export function hashKey(key: string): number {
  let h = 0x811c9dc5
  for (let i = 0; i < key.length; i++) {
    h ^= key.charCodeAt(i)
    h = Math.imul(h, 0x01000193) >>> 0
  }
  return h >>> 0
}

const isOther = (key: string) => key === 'other' || key === '__other__'

/** The colour of one series key, the same wherever it is drawn. */
export function seriesColor(key: string): string {
  if (isOther(key)) return OTHER_COLOR
  return SERIES_PALETTE[hashKey(key) % SERIES_PALETTE.length]
}

/**
 * Colours for the keys drawn together in one chart: each key its own stable colour;
 * only when two keys of the same chart hash to the same colour does the later one (in
 * key order, so the answer does not depend on the order given) take the next free hue.
 */
export function seriesColors(keys: string[]): Record<string, string> {
  const out: Record<string, string> = {}
  const used = new Set<number>()
  const sorted = [...new Set(keys)].sort()
  const pending: string[] = []
  for (const k of sorted) {
    if (isOther(k)) {
      out[k] = OTHER_COLOR
      continue
    }
    const i = hashKey(k) % SERIES_PALETTE.length
    if (used.has(i)) pending.push(k)
    else {
      used.add(i)
      out[k] = SERIES_PALETTE[i]
    }
  }
  for (const k of pending) {
    let i = hashKey(k) % SERIES_PALETTE.length
    for (let step = 0; step < SERIES_PALETTE.length && used.has(i); step++) i = (i + 1) % SERIES_PALETTE.length
    used.add(i)
    out[k] = SERIES_PALETTE[i]
  }
  return out
}
