// The Routes page's logic: the edit form as plain data, what the API is sent, the
// checks worth making before a round trip, and each deployment's share of traffic.
// The server enforces every rule; the page only catches mistakes early.
import type {
  Deployment,
  DeploymentHealth,
  DeploymentInput,
  Me,
  Route,
  RouteInput,
  RoutingStrategy,
  StatsRow,
} from '@/api/types'

/** Routes are gateway-wide: operators and admin keys only. */
export function canManageRoutes(me: Me | null | undefined): boolean {
  return !!me && me.permission === 'admin'
}

export interface DeploymentForm {
  id: string
  provider: string
  model: string
  base_url: string
  credential: string
  weight: number
  priority: number
}

export interface RouteForm {
  name: string
  strategy: RoutingStrategy
  max_attempts: number
  cooldown_after_failures: number
  cooldown_seconds: number
  fallbacks: string[]
  deployments: DeploymentForm[]
}

export function emptyDeployment(): DeploymentForm {
  return { id: '', provider: 'openai', model: '', base_url: '', credential: '', weight: 1, priority: 0 }
}

export function emptyRouteForm(): RouteForm {
  return {
    name: '',
    strategy: 'weighted_random',
    max_attempts: 3,
    cooldown_after_failures: 3,
    cooldown_seconds: 30,
    fallbacks: [],
    deployments: [emptyDeployment()],
  }
}

/** The form for editing an existing route. */
export function routeToForm(route: Route): RouteForm {
  return {
    name: route.name,
    strategy: route.strategy,
    max_attempts: route.max_attempts,
    cooldown_after_failures: route.cooldown_after_failures,
    cooldown_seconds: route.cooldown_seconds,
    fallbacks: [...route.fallbacks],
    deployments: route.deployments.map((d: Deployment) => ({
      id: d.id,
      provider: d.provider,
      model: d.model,
      base_url: d.base_url ?? '',
      credential: d.credential ?? '',
      weight: d.weight,
      priority: d.priority,
    })),
  }
}

/**
 * The API body: trimmed text, empty optional fields left out (so the server
 * applies its defaults). Fields the form does not edit (timeouts, capacity,
 * price) are kept from `original`, since a PATCH replaces the deployment list whole.
 */
export function formToBody(form: RouteForm, original?: Route): RouteInput {
  const kept = new Map((original?.deployments ?? []).map((d) => [d.id, d]))
  return {
    name: form.name.trim(),
    strategy: form.strategy,
    max_attempts: form.max_attempts,
    cooldown_after_failures: form.cooldown_after_failures,
    cooldown_seconds: form.cooldown_seconds,
    fallbacks: form.fallbacks.map((f) => f.trim()).filter(Boolean),
    deployments: form.deployments.map((d) => {
      const body: DeploymentInput & Record<string, unknown> = {
        provider: d.provider,
        model: d.model.trim(),
        weight: d.weight,
        priority: d.priority,
      }
      const id = d.id.trim()
      if (id) body.id = id
      if (d.base_url.trim()) body.base_url = d.base_url.trim()
      if (d.credential.trim()) body.credential = d.credential.trim()
      const before = id ? kept.get(id) : undefined
      if (before) {
        for (const field of ['first_byte_timeout_ms', 'total_timeout_ms', 'rpm', 'tpm', 'price'] as const) {
          if (before[field] !== null && before[field] !== undefined) body[field] = before[field]
        }
      }
      return body
    }),
  }
}

/** The first mistake in the form, or null. */
export function routeFormProblem(form: RouteForm): string | null {
  const name = form.name.trim()
  if (!name) return 'Give the route a name (what clients send as "model").'
  if (/\s/.test(name)) return 'A route name cannot contain spaces.'
  if (!form.deployments.length) return 'Add at least one deployment.'
  const ids = new Set<string>()
  for (const [i, d] of form.deployments.entries()) {
    const n = i + 1
    if (!d.model.trim()) return `Deployment ${n}: enter the upstream model.`
    if (!Number.isInteger(d.weight) || d.weight < 1) return `Deployment ${n}: the weight must be at least 1.`
    if (d.base_url.trim() && !/^https?:\/\/[^\s/]+/i.test(d.base_url.trim())) {
      return `Deployment ${n}: the base URL must start with http:// or https://.`
    }
    const credential = d.credential.trim()
    if (credential && !/^(env:[A-Za-z_][A-Za-z0-9_]*|[a-z0-9_-]{1,64})$/.test(credential)) {
      return `Deployment ${n}: name the credential (env:VAR_NAME or a config name), never paste its value.`
    }
    const id = d.id.trim()
    if (id) {
      if (ids.has(id)) return `Deployment ${n}: the id “${id}” is used twice.`
      ids.add(id)
    }
  }
  if (form.fallbacks.includes(name)) return 'A route cannot fall back to itself.'
  return null
}

/**
 * The share of traffic each deployment gets while all are healthy: only the
 * lowest priority number serves; within it, weights decide (weighted random).
 * Deployments at other priorities are standbys (share 0).
 */
export function trafficShares(deployments: Pick<Deployment, 'id' | 'weight' | 'priority'>[]): Record<string, number> {
  const shares: Record<string, number> = {}
  if (!deployments.length) return shares
  const top = Math.min(...deployments.map((d) => d.priority))
  const total = deployments.filter((d) => d.priority === top).reduce((sum, d) => sum + d.weight, 0)
  for (const d of deployments) shares[d.id] = d.priority === top && total > 0 ? d.weight / total : 0
  return shares
}

/** One deployment's state in words and a colour, for the Routes page. */
export function healthBadge(health: DeploymentHealth | undefined): { text: string; color: string } {
  if (!health) return { text: 'no traffic yet', color: 'gray' }
  if (health.cooling_down) {
    const seconds = Math.ceil((health.cooldown_remaining_ms ?? 0) / 1000)
    return { text: `cooling down ${seconds}s`, color: 'red' }
  }
  if (health.consecutive_failures > 0) {
    return { text: `${health.consecutive_failures} failure${health.consecutive_failures === 1 ? '' : 's'} in a row`, color: 'orange' }
  }
  return { text: 'healthy', color: 'green' }
}

/** Today's figures of each deployment (`route/deployment`) from stats grouped by deployment. */
export function deploymentFigures(rows: StatsRow[]): Record<string, { requests: number; errorRate: number; p50: number | null }> {
  const out: Record<string, { requests: number; errorRate: number; p50: number | null }> = {}
  for (const row of rows) {
    out[row.key] = { requests: row.requests, errorRate: row.error_rate, p50: row.latency_ms?.p50 ?? null }
  }
  return out
}
