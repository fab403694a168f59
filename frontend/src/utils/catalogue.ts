// The model catalogue page: every model the gateway serves with its prices per million
// tokens and its share of cost in a range, sortable and searchable.
import type { CatalogueModel, StatsRow } from '@/api/types'

export interface CatalogueRow {
  id: string
  kind: 'route' | 'model'
  provider: string
  input: number | null
  output: number | null
  cachedInput: number | null
  cacheWrite: number | null
  /** Whether a price is known (unknown prices are recorded at cost 0). */
  priced: boolean
  requests: number
  cost_usd: number
  /** Share of the range's cost, 0..1. */
  share: number
}

const num = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null)

/**
 * One row per catalogue model joined with the range's stats by model (group_by=model);
 * models that served traffic but are no longer in the catalogue are listed too, so the
 * shares add up. Filtered by a search over id, provider and kind; by cost, then id.
 */
export function catalogueRows(models: CatalogueModel[], stats: StatsRow[], search = ''): CatalogueRow[] {
  const byModel = new Map(stats.map((r) => [r.key, r]))
  const total = stats.reduce((s, r) => s + (r.cost_usd ?? 0), 0)
  const rows: CatalogueRow[] = models.map((m) => {
    const s = byModel.get(m.id)
    const p = m.pricing
    return {
      id: m.id,
      kind: m.kind === 'route' ? 'route' : 'model',
      provider: m.provider ?? '',
      input: num(p?.input_per_million),
      output: num(p?.output_per_million),
      cachedInput: num(p?.cached_input_per_million),
      cacheWrite: num(p?.cache_write_per_million),
      priced: !!p,
      requests: s?.requests ?? 0,
      cost_usd: s?.cost_usd ?? 0,
      share: total > 0 ? (s?.cost_usd ?? 0) / total : 0,
    }
  })
  const listed = new Set(models.map((m) => m.id))
  for (const s of stats) {
    if (listed.has(s.key) || !s.key) continue
    rows.push({
      id: s.key, kind: 'model', provider: '', input: null, output: null, cachedInput: null, cacheWrite: null, priced: false,
      requests: s.requests ?? 0, cost_usd: s.cost_usd ?? 0, share: total > 0 ? (s.cost_usd ?? 0) / total : 0,
    })
  }
  const q = search.trim().toLowerCase()
  return rows
    .filter((r) => !q || r.id.toLowerCase().includes(q) || r.provider.toLowerCase().includes(q) || r.kind === q)
    .sort((a, b) => b.cost_usd - a.cost_usd || b.requests - a.requests || a.id.localeCompare(b.id))
}

/** A price per million tokens: "$2.50", "$0.1500"; "—" when unknown. */
export function formatPrice(v: number | null, format: (n: number) => string): string {
  return v === null ? '—' : format(v)
}
