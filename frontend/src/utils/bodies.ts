// Stored request and response bodies (organizations that log them), made readable:
// JSON pretty-printed; a stream's server-sent events one by one, each JSON payload
// pretty-printed. What does not parse (a body cut at the size limit) is shown as stored.

export type BodyKind = 'json' | 'events' | 'text'

export interface ReadableBody {
  kind: BodyKind
  /** The text to show. */
  text: string
  /** Server-sent events counted (for `events`). */
  events: number
}

function prettyJson(text: string): string | null {
  try {
    return JSON.stringify(JSON.parse(text), null, 2)
  } catch {
    return null
  }
}

/** One server-sent event: its `event:` name and `data:` lines. */
function parseEvent(block: string): { name: string | null; data: string } | null {
  let name: string | null = null
  const data: string[] = []
  for (const line of block.split('\n')) {
    if (line.startsWith('event:')) name = line.slice(6).trim()
    else if (line.startsWith('data:')) data.push(line.slice(5).replace(/^ /, ''))
  }
  return data.length || name ? { name, data: data.join('\n') } : null
}

export function readableBody(stored: string): ReadableBody {
  const json = prettyJson(stored)
  if (json !== null) return { kind: 'json', text: json, events: 0 }
  const normalized = stored.replace(/\r\n/g, '\n')
  if (/^(data|event):/m.test(normalized)) {
    const events = normalized
      .split(/\n\n+/)
      .map(parseEvent)
      .filter((e): e is { name: string | null; data: string } => e !== null)
    const text = events
      .map((e) => {
        const payload = prettyJson(e.data) ?? e.data
        return e.name ? `event: ${e.name}\n${payload}` : payload
      })
      .join('\n\n')
    return { kind: 'events', text, events: events.length }
  }
  return { kind: 'text', text: stored, events: 0 }
}

/** A short label for a body: its kind, its size and whether it was cut. */
export function bodyLabel(body: ReadableBody, stored: string, truncated: boolean): string {
  const bytes = new TextEncoder().encode(stored).length
  const size = bytes < 1024 ? `${bytes} B` : `${(bytes / 1024).toFixed(1)} KiB`
  const kind = body.kind === 'json' ? 'JSON' : body.kind === 'events' ? `${body.events} events` : 'text'
  return `${kind} · ${size}${truncated ? ' · truncated at the size limit' : ''}`
}
