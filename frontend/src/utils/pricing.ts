// Price lookup for the playground. The contract does not fix a pricing field on
// /v1/models, so several common shapes are accepted. Prices are USD.
import type { ChatUsage, ModelInfo } from '@/api/types'

export interface Pricing {
  /** USD per 1M prompt tokens */
  inputPerMillion: number
  /** USD per 1M completion tokens */
  outputPerMillion: number
}

function n(v: unknown): number | null {
  if (v === null || v === undefined || v === '') return null
  const x = typeof v === 'number' ? v : Number(v)
  return Number.isFinite(x) ? x : null
}

export function modelPricing(model: ModelInfo | undefined | null): Pricing | null {
  if (!model) return null
  const p = (model.pricing ?? {}) as Record<string, unknown>
  // { input_per_million, output_per_million } or { prompt_per_million, completion_per_million }
  const inM = n(p.input_per_million) ?? n(p.prompt_per_million) ?? n(p.input_usd_per_million)
  const outM = n(p.output_per_million) ?? n(p.completion_per_million) ?? n(p.output_usd_per_million)
  if (inM !== null && outM !== null) return { inputPerMillion: inM, outputPerMillion: outM }
  // OpenRouter style: { prompt: "0.000003", completion: "0.000015" } USD per token
  const inT = n(p.prompt) ?? n(p.input)
  const outT = n(p.completion) ?? n(p.output)
  if (inT !== null && outT !== null) return { inputPerMillion: inT * 1e6, outputPerMillion: outT * 1e6 }
  return null
}

/** Cost of a completion: the server's figure if it sent one, else computed from pricing. */
export function usageCost(usage: ChatUsage | null | undefined, pricing: Pricing | null): number | null {
  if (!usage) return null
  const direct = n(usage.cost_usd) ?? n((usage as Record<string, unknown>).cost)
  if (direct !== null) return direct
  if (!pricing) return null
  return (
    (usage.prompt_tokens * pricing.inputPerMillion + usage.completion_tokens * pricing.outputPerMillion) / 1e6
  )
}
