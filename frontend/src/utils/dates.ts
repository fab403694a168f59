// Date helpers for API parameters. Stats use calendar days (YYYY-MM-DD, inclusive);
// the request log and the audit log take RFC 3339 instants.

function pad(n: number): string {
  return String(n).padStart(2, '0')
}

/** Local calendar date → "YYYY-MM-DD". */
export function toYmd(d: Date): string {
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`
}

/** "YYYY-MM-DD" → local Date at midnight. */
export function parseYmd(s: string): Date {
  const [y, m, d] = s.split('-').map(Number)
  return new Date(y, (m || 1) - 1, d || 1)
}

export function addDays(d: Date, n: number): Date {
  const r = new Date(d)
  r.setDate(r.getDate() + n)
  return r
}

/** The default range: the last `days` days including today. */
export function lastDays(days: number, today: Date = new Date()): [string, string] {
  return [toYmd(addDays(today, -(days - 1))), toYmd(today)]
}

/** Every day from `from` to `to` inclusive, as YYYY-MM-DD (capped at 3660 days). */
export function daysBetween(from: string, to: string): string[] {
  const out: string[] = []
  let d = parseYmd(from)
  const end = parseYmd(to)
  for (let i = 0; d <= end && i < 3660; i++) {
    out.push(toYmd(d))
    d = addDays(d, 1)
  }
  return out
}

/** Start of a local day as an RFC 3339 instant (UTC). */
export function startOfDayIso(ymd: string): string {
  return parseYmd(ymd).toISOString()
}

/** End of a local day (last millisecond) as an RFC 3339 instant (UTC). */
export function endOfDayIso(ymd: string): string {
  const d = addDays(parseYmd(ymd), 1)
  return new Date(d.getTime() - 1).toISOString()
}

/** The current month as "YYYY-MM". */
export function currentMonth(now: Date = new Date()): string {
  return `${now.getFullYear()}-${pad(now.getMonth() + 1)}`
}
