// Incremental Server-Sent Events parser (the subset the OpenAI streaming format uses).

export interface SseEvent {
  event: string | null
  data: string
  id: string | null
}

/**
 * Feed it text chunks as they arrive (they may split lines anywhere); it returns the
 * events completed by each chunk. Call `flush()` at end of stream for a final event
 * that was not followed by a blank line.
 */
export class SseParser {
  private buffer = ''
  private dataLines: string[] = []
  private eventName: string | null = null
  private lastId: string | null = null
  private pendingCR = false

  push(chunk: string): SseEvent[] {
    let text = chunk
    if (this.pendingCR && text.startsWith('\n')) text = text.slice(1)
    this.pendingCR = false
    this.buffer += text
    const events: SseEvent[] = []
    let start = 0
    for (let i = 0; i < this.buffer.length; i++) {
      const c = this.buffer[i]
      if (c === '\n' || c === '\r') {
        const line = this.buffer.slice(start, i)
        if (c === '\r') {
          if (i + 1 < this.buffer.length) {
            if (this.buffer[i + 1] === '\n') i++
          } else {
            this.pendingCR = true
          }
        }
        start = i + 1
        const ev = this.processLine(line)
        if (ev) events.push(ev)
      }
    }
    this.buffer = this.buffer.slice(start)
    return events
  }

  flush(): SseEvent[] {
    const events: SseEvent[] = []
    if (this.buffer) {
      const ev = this.processLine(this.buffer)
      this.buffer = ''
      if (ev) events.push(ev)
    }
    const ev = this.dispatch()
    if (ev) events.push(ev)
    return events
  }

  private processLine(line: string): SseEvent | null {
    if (line === '') return this.dispatch()
    if (line.startsWith(':')) return null // comment / keep-alive
    const colon = line.indexOf(':')
    let field: string
    let value: string
    if (colon === -1) {
      field = line
      value = ''
    } else {
      field = line.slice(0, colon)
      value = line.slice(colon + 1)
      if (value.startsWith(' ')) value = value.slice(1)
    }
    switch (field) {
      case 'data':
        this.dataLines.push(value)
        break
      case 'event':
        this.eventName = value
        break
      case 'id':
        this.lastId = value
        break
      default:
        break // "retry" and unknown fields are ignored
    }
    return null
  }

  private dispatch(): SseEvent | null {
    if (this.dataLines.length === 0) {
      this.eventName = null
      return null
    }
    const ev: SseEvent = { event: this.eventName, data: this.dataLines.join('\n'), id: this.lastId }
    this.dataLines = []
    this.eventName = null
    return ev
  }
}

/** Parses a whole SSE text at once (for tests and small bodies). */
export function parseSse(text: string): SseEvent[] {
  const p = new SseParser()
  return [...p.push(text), ...p.flush()]
}
