// API keys the user pasted or issued in this browser session, for the playground.
// Kept in sessionStorage only (gone when the tab closes), never in localStorage.

const LIST = 'gr.playground_keys'
const SELECTED = 'gr.playground_key'

export interface KeyringEntry {
  label: string
  key: string
  signedIn?: boolean
}

function storage(): Storage | null {
  try {
    return globalThis.sessionStorage ?? null
  } catch {
    return null
  }
}

function read(): KeyringEntry[] {
  try {
    const v = storage()?.getItem(LIST)
    const parsed = v ? (JSON.parse(v) as unknown) : []
    return Array.isArray(parsed) ? (parsed as KeyringEntry[]).filter((e) => e && typeof e.key === 'string') : []
  } catch {
    return []
  }
}

function write(entries: KeyringEntry[]) {
  storage()?.setItem(LIST, JSON.stringify(entries.slice(0, 20)))
}

/** "gr-AbCd1234-secret" → "gr-AbCd1234…" (never show the secret part). */
export function maskKey(key: string): string {
  const parts = key.split('-')
  if (parts.length >= 3) return `${parts[0]}-${parts[1]}-…`
  return key.length > 10 ? `${key.slice(0, 10)}…` : '…'
}

export const keyring = {
  list(): KeyringEntry[] {
    return read()
  },
  remember(key: string, label: string, signedIn = false) {
    const k = key.trim()
    if (!k) return
    const entries = read().filter((e) => e.key !== k)
    entries.unshift({ key: k, label, signedIn })
    write(entries)
    storage()?.setItem(SELECTED, k)
  },
  forget(key: string) {
    write(read().filter((e) => e.key !== key))
    if (storage()?.getItem(SELECTED) === key) storage()?.removeItem(SELECTED)
  },
  /** Forgets every key whose secret starts with this public prefix (after revoke / rotate). */
  forgetPrefix(prefix: string) {
    if (!prefix) return
    for (const e of read()) if (e.key === prefix || e.key.startsWith(`${prefix}-`)) this.forget(e.key)
  },
  forgetSignedIn() {
    for (const e of read()) if (e.signedIn) this.forget(e.key)
  },
  selected(): string | null {
    return storage()?.getItem(SELECTED) ?? null
  },
  select(key: string | null) {
    if (key) storage()?.setItem(SELECTED, key)
    else storage()?.removeItem(SELECTED)
  },
}
