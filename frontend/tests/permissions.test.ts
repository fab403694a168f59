import { describe, expect, it } from 'vitest'
import { can, canWrite, grantablePermissions, isAdmin } from '@/utils/permissions'
import type { Me } from '@/api/types'

const operator: Me = { kind: 'operator', id: 'op', name: 'admin', permission: 'admin', organization_id: null }
const adminKey: Me = { kind: 'api_key', id: 'k0', name: 'ci', permission: 'admin', organization_id: 'org-a' }
const writeKey: Me = { kind: 'api_key', id: 'k1', name: 'w', permission: 'write', organization_id: 'org-a' }
const readKey: Me = { kind: 'api_key', id: 'k2', name: 'r', permission: 'read', organization_id: 'org-a' }

describe('permissions', () => {
  it('operators and admin keys can do everything', () => {
    for (const me of [operator, adminKey]) {
      expect(isAdmin(me)).toBe(true)
      expect(can(me, 'org.create')).toBe(true)
      expect(can(me, 'org.delete')).toBe(true)
      expect(can(me, 'key.issue', 'org-b')).toBe(true)
      expect(can(me, 'projection.rebuild')).toBe(true)
    }
  })

  it('write keys manage keys of their own organization only', () => {
    expect(canWrite(writeKey)).toBe(true)
    expect(can(writeKey, 'key.issue', 'org-a')).toBe(true)
    expect(can(writeKey, 'key.revoke', 'org-a')).toBe(true)
    expect(can(writeKey, 'key.rotate', 'org-b')).toBe(false)
    expect(can(writeKey, 'key.issue')).toBe(true)
    expect(can(writeKey, 'org.create')).toBe(false)
    expect(can(writeKey, 'org.edit')).toBe(false)
    expect(can(writeKey, 'projection.rebuild')).toBe(false)
  })

  it('write keys never act on keys that outrank them', () => {
    expect(can(writeKey, 'key.rotate', 'org-a', 'admin')).toBe(false)
    expect(can(writeKey, 'key.edit', 'org-a', 'admin')).toBe(false)
    expect(can(writeKey, 'key.revoke', 'org-a', 'write')).toBe(true)
    expect(can(writeKey, 'key.edit', 'org-a', 'read')).toBe(true)
    expect(can(adminKey, 'key.rotate', 'org-a', 'admin')).toBe(true)
  })

  it('read keys change nothing', () => {
    expect(canWrite(readKey)).toBe(false)
    for (const a of ['org.create', 'org.edit', 'org.delete', 'key.issue', 'key.edit', 'key.rotate', 'key.revoke', 'projection.rebuild'] as const) {
      expect(can(readKey, a, 'org-a')).toBe(false)
    }
  })

  it('nobody signed in can do nothing', () => {
    expect(can(null, 'key.issue')).toBe(false)
    expect(isAdmin(undefined)).toBe(false)
  })

  it('grants at most what one has', () => {
    expect(grantablePermissions(operator)).toEqual(['read', 'write', 'admin'])
    expect(grantablePermissions(writeKey)).toEqual(['read', 'write'])
    expect(grantablePermissions(readKey)).toEqual([])
  })
})

import { keyring, maskKey } from '@/utils/keyring'

describe('keyring', () => {
  it('remembers keys per session, masks them and forgets by prefix', () => {
    sessionStorage.clear()
    keyring.remember('gr-AbCd1234-secretpart', 'svc')
    keyring.remember('gr-Zz999999-other', 'other')
    expect(keyring.selected()).toBe('gr-Zz999999-other')
    expect(maskKey('gr-AbCd1234-secretpart')).toBe('gr-AbCd1234-…')
    keyring.forgetPrefix('gr-Zz999999')
    expect(keyring.list().map((e) => e.label)).toEqual(['svc'])
    expect(keyring.selected()).toBeNull()
  })
})
