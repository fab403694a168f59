// Names instead of ids: the labels the dashboard shows for organizations, keys, operators,
// routes and webhooks. Ids of UUIDv7 begin with their creation time, so a prefix tells
// nothing apart: show the name, keep the id for the tooltip and the copy button.

export type EntityKind = 'organization' | 'api_key' | 'operator' | 'route' | 'webhook'

const NOUN: Record<EntityKind, string> = {
  organization: 'organization',
  api_key: 'key',
  operator: 'operator',
  route: 'route',
  webhook: 'webhook',
}

/** The noun a kind is called by in sentences: "key", "organization". */
export function kindNoun(kind: EntityKind): string {
  return NOUN[kind]
}

/** A hint of an id for labels whose name is gone: "01a2…" (the full id is on hover). */
export function idHint(id: string | null | undefined): string {
  if (!id) return ''
  return id.length > 6 ? `${id.slice(0, 4)}…` : id
}

/**
 * What to call an entity: its name; when the name is unknown (deleted, or never known),
 * "deleted key · 01a2…"; "—" when there is neither.
 */
export function entityLabel(name: string | null | undefined, id: string | null | undefined, kind: EntityKind): string {
  const n = typeof name === 'string' ? name.trim() : ''
  if (n) return n
  if (!id) return '—'
  return `deleted ${NOUN[kind]} · ${idHint(id)}`
}

/** True when a label is only an id prefix (8+ hex digits and nothing else): the e2e forbids them. */
export function isBareIdPrefix(text: string): boolean {
  return /^[0-9a-f]{8}$/i.test(text.trim())
}

/** id → name of every item of a list (organizations, keys, operators by username). */
export function nameIndex<T extends { id: string }>(items: readonly T[], nameOf: (t: T) => string | null | undefined = (t) => (t as unknown as { name?: string }).name): Map<string, string> {
  const m = new Map<string, string>()
  for (const it of items) {
    const n = nameOf(it)
    if (n) m.set(it.id, n)
  }
  return m
}

/** The first name that is known: e.g. the entry's own `api_key_name`, then the loaded keys list. */
export function firstName(...candidates: (string | null | undefined)[]): string | null {
  for (const c of candidates) if (typeof c === 'string' && c.trim()) return c
  return null
}

/** The kind of entity an audit aggregate type is about (null for logins, alerts, …). */
export function aggregateKind(aggregateType: string | null | undefined): EntityKind | null {
  switch (aggregateType) {
    case 'Organization':
      return 'organization'
    case 'ApiKey':
      return 'api_key'
    case 'Operator':
      return 'operator'
    case 'Route':
      return 'route'
    case 'WebhookEndpoint':
    case 'Webhook':
      return 'webhook'
    default:
      return null
  }
}

/** Matches a search text against a name and ids/prefixes, case-insensitively. */
export function matchesSearch(query: string, ...fields: (string | null | undefined)[]): boolean {
  const q = query.trim().toLowerCase()
  if (!q) return true
  return fields.some((f) => typeof f === 'string' && f.toLowerCase().includes(q))
}
