// Webhook endpoints: who may manage them, what a form may send, how deliveries read.
import {
  GATEWAY_WEBHOOK_EVENT_TYPES,
  WEBHOOK_EVENT_TYPES,
  type Me,
  type WebhookAttempt,
  type WebhookDelivery,
  type WebhookEndpoint,
  type WebhookInput,
} from '@/api/types'

export const MAX_WEBHOOK_URL_LENGTH = 2048
export const MAX_WEBHOOK_DESCRIPTION_LENGTH = 500

/** Operators and admin keys (the server scopes an admin key to its organization). */
export function canManageWebhooks(me: Me | null | undefined): boolean {
  return !!me && me.permission === 'admin'
}

/** Only operators may make gateway-wide endpoints (no organization). */
export function canCreateGlobal(me: Me | null | undefined): boolean {
  return !!me && me.kind === 'operator'
}

/** The event types an endpoint of this scope may subscribe to. */
export function eventTypeOptions(global: boolean): string[] {
  const gatewayOnly = GATEWAY_WEBHOOK_EVENT_TYPES as readonly string[]
  return WEBHOOK_EVENT_TYPES.filter((t) => global || !gatewayOnly.includes(t))
}

export interface WebhookForm {
  url: string
  description: string
  event_types: string[]
  enabled: boolean
  /** '' = gateway-wide (operators), else an organization id. */
  organization_id: string
}

export function emptyWebhookForm(organizationId = ''): WebhookForm {
  return { url: '', description: '', event_types: ['BudgetThresholdReached'], enabled: true, organization_id: organizationId }
}

export function webhookToForm(w: WebhookEndpoint): WebhookForm {
  return {
    url: w.url,
    description: w.description ?? '',
    event_types: [...w.event_types],
    enabled: w.enabled,
    organization_id: w.organization_id ?? '',
  }
}

/** What is wrong with the form (the server checks the same and more), or null. */
export function webhookFormProblem(form: WebhookForm): string | null {
  const url = form.url.trim()
  if (!url) return 'Enter the URL that receives the events.'
  if (url.length > MAX_WEBHOOK_URL_LENGTH) return `The URL must be at most ${MAX_WEBHOOK_URL_LENGTH} characters.`
  let parsed: URL
  try {
    parsed = new URL(url)
  } catch {
    return 'The URL is not a valid absolute URL.'
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') return 'The URL must start with http:// or https://.'
  if (parsed.username || parsed.password) return 'The URL must not contain a user name or password.'
  if (form.description.length > MAX_WEBHOOK_DESCRIPTION_LENGTH)
    return `The description must be at most ${MAX_WEBHOOK_DESCRIPTION_LENGTH} characters.`
  if (!form.event_types.length) return 'Choose at least one event type.'
  const allowed = eventTypeOptions(!form.organization_id)
  const refused = form.event_types.find((t) => !allowed.includes(t))
  if (refused) return `${refused} concerns no organization: only gateway-wide endpoints receive it.`
  return null
}

/** The create body, or the PATCH body of what changed against `current`. */
export function webhookFormToBody(form: WebhookForm, current?: WebhookEndpoint): Partial<WebhookInput> {
  const description = form.description.trim() || null
  if (!current) {
    return {
      url: form.url.trim(),
      description,
      event_types: [...form.event_types],
      enabled: form.enabled,
      organization_id: form.organization_id || null,
    }
  }
  const body: Partial<WebhookInput> = {}
  if (form.url.trim() !== current.url) body.url = form.url.trim()
  if (description !== (current.description ?? null)) body.description = description
  const sorted = (xs: string[]) => [...xs].sort().join(',')
  if (sorted(form.event_types) !== sorted(current.event_types)) body.event_types = [...form.event_types]
  if (form.enabled !== current.enabled) body.enabled = form.enabled
  return body
}

export function deliveryTone(status: WebhookDelivery['status']): 'green' | 'orangered' | 'red' {
  if (status === 'delivered') return 'green'
  if (status === 'pending') return 'orangered'
  return 'red'
}

/** One line about an attempt: `204 · 35 ms` or `connection failed … · 2 ms`. */
export function attemptSummary(a: WebhookAttempt): string {
  const what = a.status_code != null ? String(a.status_code) : (a.error ?? 'no answer')
  return `${what} · ${a.latency_ms} ms`
}
