import { describe, expect, it } from 'vitest'
import { eventTitle, eventTone } from '@/utils/audit'
import { canManageOperators, operatorActions, passwordProblem } from '@/utils/operators'
import type { Me, Operator } from '@/api/types'

const me: Me = { kind: 'operator', id: 'op-1', name: 'admin', permission: 'admin', organization_id: null }
const adminKey: Me = { kind: 'api_key', id: 'k0', name: 'ci', permission: 'admin', organization_id: 'org-a' }

function op(id: string, status: Operator['status'] = 'active'): Operator {
  return { id, object: 'operator', username: id, status, created_at: '', updated_at: '', version: 1 }
}

describe('operator actions', () => {
  it('only operators manage operators', () => {
    expect(canManageOperators(me)).toBe(true)
    expect(canManageOperators(adminKey)).toBe(false)
    expect(canManageOperators(null)).toBe(false)
    const all = [op('op-1'), op('op-2')]
    expect(operatorActions(adminKey, all[1], all)).toMatchObject({ disable: false, delete: false, setPassword: false })
  })

  it('nobody disables or deletes themselves', () => {
    const all = [op('op-1'), op('op-2')]
    const actions = operatorActions(me, all[0], all)
    expect(actions).toMatchObject({ disable: false, delete: false, setPassword: true, endSessions: true })
    expect(actions.reason).toMatch(/yourself/)
  })

  it('another active operator can be disabled and deleted while another stays active', () => {
    const all = [op('op-1'), op('op-2')]
    expect(operatorActions(me, all[1], all)).toMatchObject({ disable: true, enable: false, delete: true, reason: null })
  })

  it('the last active operator cannot be disabled or deleted', () => {
    const all = [op('op-1', 'disabled'), op('op-2')]
    expect(operatorActions(me, all[1], all)).toMatchObject({ disable: false, delete: false })
    expect(operatorActions(me, all[1], all).reason).toMatch(/last active/)
  })

  it('a disabled operator can be enabled or deleted but gets no password or sessions', () => {
    const all = [op('op-1'), op('op-2', 'disabled')]
    expect(operatorActions(me, all[1], all)).toMatchObject({
      disable: false,
      enable: true,
      delete: true,
      setPassword: false,
      endSessions: false,
    })
  })
})

describe('new passwords', () => {
  it('must be long enough, not too long, and confirmed', () => {
    expect(passwordProblem('short', 'short')).toMatch(/at least 8/)
    expect(passwordProblem('x'.repeat(2000), 'x'.repeat(2000))).toMatch(/too long/)
    expect(passwordProblem('long enough', 'long enougH')).toMatch(/match/)
    expect(passwordProblem('long enough', 'long enough')).toBeNull()
  })
})

describe('audit labels for operator and login events', () => {
  it('names and colours the new events', () => {
    expect(eventTitle('OperatorSessionsEnded')).toBe('Sessions ended')
    expect(eventTitle('LoginLockedOut')).toBe('Login locked out')
    expect(eventTone('LoginLockedOut')).toBe('red')
    expect(eventTone('LoginFailed')).toBe('orange')
    expect(eventTone('OperatorEnabled')).toBe('arcoblue')
  })
})
