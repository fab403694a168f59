import { defineStore } from 'pinia'
import { computed, ref } from 'vue'
import { api } from '@/api/client'
import { fetchMe, login as apiLogin } from '@/api/endpoints'
import type { Me } from '@/api/types'
import { can as canDo, isAdmin as adminCheck, type Action } from '@/utils/permissions'
import { keyring } from '@/utils/keyring'

const TOKEN_KEY = 'gr.token'
const EXPIRES_KEY = 'gr.expires_at'
const KIND_KEY = 'gr.login_kind'

export type EndReason = 'expired' | 'unauthorized' | 'logout'

export const END_MESSAGES: Record<EndReason, string> = {
  expired: 'Your session expired. Please sign in again.',
  unauthorized: 'Your session is no longer valid. Please sign in again.',
  logout: 'You have been signed out.',
}

function readNumber(key: string): number | null {
  const v = localStorage.getItem(key)
  if (!v) return null
  const n = Number(v)
  return Number.isFinite(n) ? n : null
}

export const useAuthStore = defineStore('auth', () => {
  const token = ref<string | null>(localStorage.getItem(TOKEN_KEY))
  const expiresAt = ref<number | null>(readNumber(EXPIRES_KEY))
  const loginKind = ref<'operator' | 'api_key' | null>(
    (localStorage.getItem(KIND_KEY) as 'operator' | 'api_key' | null) ?? null,
  )
  const me = ref<Me | null>(null)
  const endMessage = ref<string | null>(null)
  let timer: ReturnType<typeof setTimeout> | null = null
  let sessionEndHandler: ((reason: EndReason) => void) | null = null

  const isExpired = () => expiresAt.value !== null && Date.now() >= expiresAt.value
  const isAuthenticated = computed(() => !!token.value && !isExpired())
  const isAdmin = computed(() => adminCheck(me.value))
  const can = (action: Action, orgId?: string | null, targetPermission?: string | null) =>
    canDo(me.value, action, orgId, targetPermission)

  function scheduleExpiry() {
    if (timer) clearTimeout(timer)
    timer = null
    if (!token.value || expiresAt.value === null) return
    const ms = expiresAt.value - Date.now()
    // setTimeout overflows beyond ~24.8 days; re-check daily in that case.
    timer = setTimeout(
      () => {
        if (isExpired()) endSession('expired')
        else scheduleExpiry()
      },
      Math.max(0, Math.min(ms, 86_400_000)),
    )
  }

  function persist() {
    if (token.value) localStorage.setItem(TOKEN_KEY, token.value)
    else localStorage.removeItem(TOKEN_KEY)
    if (expiresAt.value !== null) localStorage.setItem(EXPIRES_KEY, String(expiresAt.value))
    else localStorage.removeItem(EXPIRES_KEY)
    if (loginKind.value) localStorage.setItem(KIND_KEY, loginKind.value)
    else localStorage.removeItem(KIND_KEY)
  }

  async function login(creds: { username: string; password: string } | { api_key: string }) {
    const res = await apiLogin(creds)
    token.value = res.access_token
    expiresAt.value = res.expires_in ? Date.now() + res.expires_in * 1000 : null
    loginKind.value = 'api_key' in creds ? 'api_key' : 'operator'
    endMessage.value = null
    persist()
    if ('api_key' in creds) keyring.remember(creds.api_key, 'Signed-in key', true)
    scheduleExpiry()
    await loadMe()
  }

  async function loadMe() {
    me.value = await fetchMe()
    return me.value
  }

  function clear() {
    token.value = null
    expiresAt.value = null
    me.value = null
    loginKind.value = null
    persist()
    if (timer) clearTimeout(timer)
    timer = null
  }

  /** Ends the session (logout, expiry or 401) and tells the app to go to the login page. */
  function endSession(reason: EndReason) {
    const wasSignedIn = !!token.value
    clear()
    endMessage.value = END_MESSAGES[reason]
    if (wasSignedIn || reason === 'logout') sessionEndHandler?.(reason)
  }

  function logout() {
    keyring.forgetSignedIn()
    endSession('logout')
  }

  function onSessionEnd(handler: (reason: EndReason) => void) {
    sessionEndHandler = handler
  }

  /** Wires the API client to this store. */
  function install() {
    api.configure({
      getToken: () => token.value,
      isExpired: () => !!token.value && isExpired(),
      onUnauthorized: (reason) => endSession(reason),
    })
    if (token.value && isExpired()) {
      clear()
      endMessage.value = END_MESSAGES.expired
    }
    scheduleExpiry()
  }

  return {
    token,
    expiresAt,
    loginKind,
    me,
    endMessage,
    isAuthenticated,
    isAdmin,
    isExpired,
    can,
    login,
    loadMe,
    logout,
    endSession,
    onSessionEnd,
    install,
  }
})
