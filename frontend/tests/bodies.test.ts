import { describe, expect, it } from 'vitest'
import { bodyLabel, readableBody } from '@/utils/bodies'

describe('readableBody', () => {
  it('pretty-prints a JSON body', () => {
    const body = readableBody('{"model":"echo/demo","messages":[{"role":"user","content":"hi"}]}')
    expect(body.kind).toBe('json')
    expect(body.text).toContain('\n  "model": "echo/demo"')
  })

  it('shows an OpenAI stream event by event, each payload pretty-printed', () => {
    const body = readableBody('data: {"id":"c1","choices":[]}\n\ndata: [DONE]\n\n')
    expect(body.kind).toBe('events')
    expect(body.events).toBe(2)
    expect(body.text).toBe('{\n  "id": "c1",\n  "choices": []\n}\n\n[DONE]')
  })

  it('keeps the event names of an Anthropic stream', () => {
    const body = readableBody('event: message_stop\ndata: {"type":"message_stop"}\n\n')
    expect(body.text).toBe('event: message_stop\n{\n  "type": "message_stop"\n}')
  })

  it('shows a body cut inside its JSON as stored', () => {
    const body = readableBody('{"model":"echo/demo","mess')
    expect(body).toEqual({ kind: 'text', text: '{"model":"echo/demo","mess', events: 0 })
  })

  it('labels a body with its kind, its size and a cut', () => {
    const stored = '{"a":"é"}'
    expect(bodyLabel(readableBody(stored), stored, false)).toBe('JSON · 10 B')
    expect(bodyLabel(readableBody('x'.repeat(2048)), 'x'.repeat(2048), true)).toBe('text · 2.0 KiB · truncated at the size limit')
  })
})
