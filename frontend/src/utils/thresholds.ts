// Where colours turn amber and red: one set of thresholds for every bar, tag and card.

/** Percent of a limit used from which a bar is amber (the default alert thresholds' 80). */
export const WARNING_PERCENT = 80
/** Percent of a limit used from which a bar is red: the limit is reached. */
export const DANGER_PERCENT = 100

export type ThresholdStatus = 'normal' | 'warning' | 'danger'
export type Tone = 'good' | 'warn' | 'bad'

/** The colour of something at `percent` of its limit used. */
export function thresholdStatus(percent: number | null | undefined): ThresholdStatus {
  if (percent === null || percent === undefined || Number.isNaN(percent)) return 'normal'
  if (percent >= DANGER_PERCENT) return 'danger'
  if (percent >= WARNING_PERCENT) return 'warning'
  return 'normal'
}

/** Error rate (0..1) from which a card is amber, and red. */
export const ERROR_RATE_WARNING = 0.01
export const ERROR_RATE_DANGER = 0.05

/** The tone of an error-rate card: green below 1 %, amber from 1 %, red from 5 %. */
export function errorRateTone(rate: number | null | undefined): Tone {
  const r = rate ?? 0
  return r >= ERROR_RATE_DANGER ? 'bad' : r >= ERROR_RATE_WARNING ? 'warn' : 'good'
}

/** The tone of a card that counts refused requests: any refusal is worth a look. */
export function refusedTone(refused: number | null | undefined, requests: number | null | undefined): Tone {
  const n = refused ?? 0
  if (!n) return 'good'
  const total = n + (requests ?? 0)
  return n / total >= ERROR_RATE_DANGER ? 'bad' : 'warn'
}
