// What the signed-in identity may do. The server enforces all of this; the UI only
// hides what would be refused.
import type { Me } from '@/api/types'

export type Action =
  | 'org.create'
  | 'org.edit'
  | 'org.suspend'
  | 'org.delete'
  | 'key.issue'
  | 'key.edit'
  | 'key.rotate'
  | 'key.revoke'
  | 'projection.rebuild'
  | 'stats.all_orgs'
  | 'audit.global'

export function isAdmin(me: Me | null | undefined): boolean {
  return !!me && (me.kind === 'operator' || me.permission === 'admin')
}

export function canWrite(me: Me | null | undefined): boolean {
  return !!me && (isAdmin(me) || me.permission === 'write')
}

type Level = 'read' | 'write' | 'admin'
const rank: Record<Level, number> = { read: 0, write: 1, admin: 2 }

/**
 * `orgId` is the organization the target belongs to (for key actions), and
 * `targetPermission` the permission of the key acted on (the server's rule: a
 * caller acts only on keys whose permission is at most its own).
 * - read: nothing that changes state.
 * - write: manage read and write keys of its own organization only.
 * - admin / operator: everything.
 */
export function can(
  me: Me | null | undefined,
  action: Action,
  orgId?: string | null,
  targetPermission?: string | null,
): boolean {
  if (!me) return false
  if (isAdmin(me)) return true
  switch (action) {
    case 'key.issue':
    case 'key.edit':
    case 'key.rotate':
    case 'key.revoke':
      if (me.permission !== 'write') return false
      if (targetPermission && (rank[targetPermission as Level] ?? rank.admin) > rank.write) return false
      // Without a known org we allow the action only if the identity has one (it is scoped to it).
      if (orgId === undefined) return !!me.organization_id
      return !!me.organization_id && orgId === me.organization_id
    default:
      return false
  }
}

/** Permissions a given identity may grant to a new key (never more than it has). */
export function grantablePermissions(me: Me | null | undefined): ('read' | 'write' | 'admin')[] {
  if (isAdmin(me)) return ['read', 'write', 'admin']
  if (me?.permission === 'write') return ['read', 'write']
  return []
}
