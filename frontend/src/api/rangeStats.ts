// Stats over a chart range. The API draws hours over at most two calendar days; a
// rolling 48 hours spans three, so hourly ranges are asked in chunks and merged.
import { fetchStats, type StatsScope } from './endpoints'
import type { GroupBy, SplitBy, StatsResponse } from './types'
import { MAX_HOURLY_DAYS, type ChartRange } from '@/utils/ranges'
import { chunkDays, mergeStats } from '@/utils/stats'

/** Stats of `range` grouped by its buckets (hour or day), or by `groupBy` when given. */
export async function fetchRangeStats(scope: StatsScope, range: ChartRange, opts: { groupBy?: GroupBy; splitBy?: SplitBy } = {}): Promise<StatsResponse> {
  const groupBy = opts.groupBy ?? range.bucket
  if (groupBy !== 'hour') return fetchStats(scope, range.from, range.to, groupBy, opts.splitBy)
  const parts = await Promise.all(
    chunkDays(range.from, range.to, MAX_HOURLY_DAYS).map(([from, to]) => fetchStats(scope, from, to, 'hour', opts.splitBy)),
  )
  return mergeStats(parts)
}
