// Which operator actions the signed-in identity may take. The server enforces all
// of this; the UI only hides or disables what would be refused.
import type { Me, Operator } from '@/api/types'

export const MIN_PASSWORD_LENGTH = 8
export const MAX_PASSWORD_LENGTH = 1024

/** Only operators manage operators; API keys (even admin ones) may not. */
export function canManageOperators(me: Me | null | undefined): boolean {
  return !!me && me.kind === 'operator'
}

export interface OperatorActions {
  disable: boolean
  enable: boolean
  delete: boolean
  setPassword: boolean
  endSessions: boolean
  /** Why disable/delete are unavailable, for a tooltip. */
  reason: string | null
}

const NONE: OperatorActions = {
  disable: false,
  enable: false,
  delete: false,
  setPassword: false,
  endSessions: false,
  reason: null,
}

/**
 * Mirrors the server's guard rails: nobody disables or deletes themselves, nor the
 * last active operator.
 */
export function operatorActions(me: Me | null | undefined, target: Operator, all: Operator[]): OperatorActions {
  if (!canManageOperators(me)) return NONE
  const self = me!.id === target.id
  const active = target.status === 'active'
  const otherActive = all.filter((o) => o.status === 'active' && o.id !== target.id).length
  const lastActive = active && otherActive === 0
  const reason = self
    ? 'You cannot disable or delete yourself.'
    : lastActive
      ? 'The last active operator cannot be disabled or deleted.'
      : null
  return {
    disable: active && !self && !lastActive,
    enable: !active,
    delete: !self && !lastActive,
    setPassword: active,
    endSessions: active,
    reason,
  }
}

/** A message for an unacceptable new password, else null. */
export function passwordProblem(password: string, confirmation: string): string | null {
  if ([...password].length < MIN_PASSWORD_LENGTH) return `Use at least ${MIN_PASSWORD_LENGTH} characters.`
  if (new TextEncoder().encode(password).length > MAX_PASSWORD_LENGTH) return 'That password is too long.'
  if (password !== confirmation) return 'The passwords do not match.'
  return null
}
