import { describe, expect, it } from 'vitest'
import { catalogueRows, formatPrice } from '@/utils/catalogue'
import { formatCost } from '@/utils/format'
import type { CatalogueModel, StatsRow } from '@/api/types'

const models: CatalogueModel[] = [
  { id: 'echo/test', kind: 'model', provider: 'echo', pricing: { input_per_million: 0.5, output_per_million: 1.5, cached_input_per_million: null, cache_write_per_million: null } },
  { id: 'support-bot', kind: 'route', provider: 'openai', pricing: { input_per_million: 2.5, output_per_million: 10, cached_input_per_million: 1.25, cache_write_per_million: null } },
  { id: 'echo/slow', kind: 'model', provider: 'echo', pricing: null },
]
const stat = (key: string, requests: number, cost_usd: number) => ({ key, label: key, requests, cost_usd }) as StatsRow

describe('model catalogue', () => {
  it('joins prices with the share of cost, largest first', () => {
    const rows = catalogueRows(models, [stat('support-bot', 10, 3), stat('echo/test', 90, 1)])
    expect(rows.map((r) => r.id)).toEqual(['support-bot', 'echo/test', 'echo/slow'])
    expect(rows[0]).toMatchObject({ kind: 'route', input: 2.5, output: 10, cachedInput: 1.25, cacheWrite: null, share: 0.75, requests: 10 })
    expect(rows[2]).toMatchObject({ priced: false, input: null, share: 0 })
  })
  it('keeps models that served traffic but left the catalogue', () => {
    const rows = catalogueRows(models, [stat('old/model', 1, 1)])
    expect(rows[0]).toMatchObject({ id: 'old/model', priced: false, share: 1 })
  })
  it('searches ids, providers and kinds', () => {
    expect(catalogueRows(models, [], 'OPENAI').map((r) => r.id)).toEqual(['support-bot'])
    expect(catalogueRows(models, [], 'route').map((r) => r.id)).toEqual(['support-bot'])
    expect(catalogueRows(models, [], 'slow').map((r) => r.id)).toEqual(['echo/slow'])
  })
  it('writes unknown prices as a dash', () => {
    expect(formatPrice(null, formatCost)).toBe('—')
    expect(formatPrice(2.5, formatCost)).toBe('$2.50')
    expect(formatPrice(0.15, formatCost)).toBe('$0.1500')
  })
})
