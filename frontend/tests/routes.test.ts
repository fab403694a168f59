import { describe, expect, it } from 'vitest'
import type { Me, Route } from '@/api/types'
import { eventTitle } from '@/utils/audit'
import {
  canManageRoutes,
  deploymentFigures,
  healthBadge,
  emptyDeployment,
  emptyRouteForm,
  formToBody,
  routeFormProblem,
  routeToForm,
  trafficShares,
} from '@/utils/routes'

const operator: Me = { kind: 'operator', id: 'op-1', name: 'admin', permission: 'admin', organization_id: null }
const adminKey: Me = { kind: 'api_key', id: 'k0', name: 'ci', permission: 'admin', organization_id: 'org-a' }
const writeKey: Me = { kind: 'api_key', id: 'k1', name: 'w', permission: 'write', organization_id: 'org-a' }

function route(): Route {
  const base = {
    base_url: null,
    credential: null,
    credential_set: false,
    priority: 0,
    first_byte_timeout_ms: null,
    total_timeout_ms: null,
    rpm: null,
    tpm: null,
    price: null,
  }
  return {
    id: 'r1',
    object: 'route',
    name: 'smart',
    deployments: [
      { ...base, id: 'd1', provider: 'openai', model: 'gpt-4o-mini', weight: 3, credential: 'env:VLLM_KEY', credential_set: true, total_timeout_ms: 60000 },
      { ...base, id: 'd2', provider: 'echo', model: 'echo', weight: 1 },
    ],
    fallbacks: ['other'],
    strategy: 'weighted_random',
    max_attempts: 3,
    cooldown_after_failures: 3,
    cooldown_seconds: 30,
    created_at: '',
    updated_at: '',
    version: 1,
  }
}

describe('routes page logic', () => {
  it('only operators and admin keys manage routes', () => {
    expect(canManageRoutes(operator)).toBe(true)
    expect(canManageRoutes(adminKey)).toBe(true)
    expect(canManageRoutes(writeKey)).toBe(false)
    expect(canManageRoutes(null)).toBe(false)
  })

  it('sends trimmed fields, leaves empty ones to the server and keeps what the form does not edit', () => {
    const form = routeToForm(route())
    form.name = '  smart '
    form.deployments[0].weight = 5
    form.deployments.push({ ...emptyDeployment(), model: ' m ', base_url: ' ' })
    const body = formToBody(form, route())
    expect(body.name).toBe('smart')
    expect(body.deployments[0]).toMatchObject({ id: 'd1', weight: 5, credential: 'env:VLLM_KEY', total_timeout_ms: 60000 })
    expect(body.deployments[2]).toEqual({ provider: 'openai', model: 'm', weight: 1, priority: 0 })
    expect(body.fallbacks).toEqual(['other'])
  })

  it('catches mistakes before a round trip', () => {
    const form = emptyRouteForm()
    expect(routeFormProblem(form)).toMatch(/name/)
    form.name = 'team default'
    expect(routeFormProblem(form)).toMatch(/spaces/)
    form.name = 'team-default'
    expect(routeFormProblem(form)).toMatch(/upstream model/)
    form.deployments[0].model = 'gpt-4o'
    form.deployments[0].weight = 0
    expect(routeFormProblem(form)).toMatch(/weight/)
    form.deployments[0].weight = 2
    form.deployments[0].base_url = 'ftp://x'
    expect(routeFormProblem(form)).toMatch(/base URL/)
    form.deployments[0].base_url = 'https://api.example.com/v1'
    form.deployments[0].credential = 'sk-live abc'
    expect(routeFormProblem(form)).toMatch(/never paste/)
    form.deployments[0].credential = 'env:AZURE_EAST_KEY'
    form.deployments.push({ ...form.deployments[0], id: 'a' }, { ...form.deployments[0], id: 'a' })
    expect(routeFormProblem(form)).toMatch(/twice/)
    form.deployments.pop()
    form.fallbacks = ['team-default']
    expect(routeFormProblem(form)).toMatch(/itself/)
    form.fallbacks = []
    expect(routeFormProblem(form)).toBeNull()
  })

  it('shares traffic by weight within the first priority; standbys get none', () => {
    expect(trafficShares(route().deployments)).toEqual({ d1: 0.75, d2: 0.25 })
    const withStandby = [...route().deployments, { id: 'd3', weight: 9, priority: 1 }]
    expect(trafficShares(withStandby).d3).toBe(0)
    expect(trafficShares([])).toEqual({})
  })

  it('titles route events', () => {
    expect(eventTitle('RouteUpdated')).toBe('Route changed')
  })
})


describe('deployment health', () => {
  it('names the breaker state in words', () => {
    expect(healthBadge(undefined)).toEqual({ text: 'no traffic yet', color: 'gray' })
    expect(healthBadge({ cooling_down: true, cooldown_remaining_ms: 1200, consecutive_failures: 3, in_flight: 0 })).toEqual({
      text: 'cooling down 2s',
      color: 'red',
    })
    expect(healthBadge({ cooling_down: false, cooldown_remaining_ms: null, consecutive_failures: 1, in_flight: 2 }).text).toBe(
      '1 failure in a row',
    )
    expect(healthBadge({ cooling_down: false, cooldown_remaining_ms: null, consecutive_failures: 0, in_flight: 0 }).color).toBe('green')
  })

  it('keys today’s figures by route/deployment', () => {
    const row = { key: 'smart/d1', label: 'smart/d1', requests: 10, error_rate: 0.1, latency_ms: { p50: 12 } }
    const figures = deploymentFigures([row as never])
    expect(figures['smart/d1']).toEqual({ requests: 10, errorRate: 0.1, p50: 12 })
  })
})
