import { describe, expect, it, vi } from 'vitest'
import { SseParser, parseSse } from '@/api/sse'
import { applyChunk, streamChat, type ChatResult } from '@/api/chat'

describe('SseParser', () => {
  it('parses data lines separated by blank lines', () => {
    const evs = parseSse('data: {"a":1}\n\ndata: [DONE]\n\n')
    expect(evs.map((e) => e.data)).toEqual(['{"a":1}', '[DONE]'])
  })

  it('handles chunks split anywhere, CRLF, comments and multi-line data', () => {
    const p = new SseParser()
    const text = ': keep-alive\r\nevent: message\r\ndata: line1\r\ndata: line2\r\n\r\ndata:x\r\n\r\n'
    const out = []
    for (const ch of text) out.push(...p.push(ch))
    out.push(...p.flush())
    expect(out).toEqual([
      { event: 'message', data: 'line1\nline2', id: null },
      { event: null, data: 'x', id: null },
    ])
  })

  it('flushes a final event without a trailing blank line', () => {
    const p = new SseParser()
    expect(p.push('data: last')).toEqual([])
    expect(p.flush().map((e) => e.data)).toEqual(['last'])
  })
})

function emptyState(): ChatResult {
  return { content: '', usage: null, finishReason: null, model: null, id: null, latencyMs: 0, ttftMs: null, done: false }
}

describe('applyChunk', () => {
  it('accumulates deltas, usage and done', () => {
    const s = emptyState()
    applyChunk('{"id":"c1","object":"chat.completion.chunk","model":"echo/test","choices":[{"index":0,"delta":{"role":"assistant","content":"Hel"}}]}', s)
    applyChunk('{"object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"lo"},"finish_reason":"stop"}]}', s)
    applyChunk('{"object":"chat.completion.chunk","choices":[],"usage":{"prompt_tokens":3,"completion_tokens":2,"total_tokens":5}}', s)
    expect(applyChunk('[DONE]', s)).toBe('done')
    expect(s).toMatchObject({ content: 'Hello', finishReason: 'stop', model: 'echo/test', id: 'c1', done: true })
    expect(s.usage?.total_tokens).toBe(5)
  })

  it('throws the error of an error data line', () => {
    expect(() => applyChunk('{"error":{"message":"upstream timed out","type":"upstream_error","code":"timeout"}}', emptyState())).toThrow(
      'upstream timed out',
    )
  })
})

function sseResponse(parts: string[], status = 200) {
  const enc = new TextEncoder()
  const body = new ReadableStream<Uint8Array>({
    start(ctrl) {
      for (const p of parts) ctrl.enqueue(enc.encode(p))
      ctrl.close()
    },
  })
  return new Response(body, { status, headers: { 'Content-Type': 'text/event-stream' } })
}

describe('streamChat', () => {
  it('streams deltas, measures TTFT and returns usage', async () => {
    let t = 0
    const fetchImpl = vi.fn(async () =>
      sseResponse([
        'data: {"choices":[{"delta":{"content":"Hi"}}]}\n',
        '\ndata: {"choices":[{"delta":{"content":" there"}}]}\n\n',
        'data: {"choices":[],"usage":{"prompt_tokens":4,"completion_tokens":2,"total_tokens":6}}\n\ndata: [DONE]\n\n',
      ]),
    )
    const deltas: string[] = []
    const res = await streamChat({
      apiKey: 'gr-a-b',
      model: 'echo/test',
      messages: [{ role: 'user', content: 'hello' }],
      fetchImpl: fetchImpl as unknown as typeof fetch,
      now: () => (t += 10),
      callbacks: { onDelta: (d) => deltas.push(d) },
    })
    expect(deltas.join('')).toBe('Hi there')
    expect(res.content).toBe('Hi there')
    expect(res.usage?.total_tokens).toBe(6)
    expect(res.ttftMs).toBeGreaterThan(0)
    expect(res.latencyMs).toBeGreaterThanOrEqual(res.ttftMs!)
    const [url, init] = fetchImpl.mock.calls[0] as unknown as [string, RequestInit]
    expect(url).toBe('/v1/chat/completions')
    expect((init.headers as Record<string, string>).Authorization).toBe('Bearer gr-a-b')
    const body = JSON.parse(init.body as string)
    expect(body).toMatchObject({ stream: true, stream_options: { include_usage: true }, model: 'echo/test' })
  })

  it('runs as a key with the session and the key id, never a secret', async () => {
    const fetchImpl = vi.fn(async () => sseResponse(['data: {"choices":[{"delta":{"content":"ok"}}]}\n\ndata: [DONE]\n\n']))
    await streamChat({ apiKey: 'session-token', keyId: 'key-uuid', model: 'm', messages: [], fetchImpl: fetchImpl as unknown as typeof fetch })
    const [, init] = fetchImpl.mock.calls[0] as unknown as [string, RequestInit]
    const headers = init.headers as Record<string, string>
    expect(headers.Authorization).toBe('Bearer session-token')
    expect(headers['X-GaiaRouter-Key-Id']).toBe('key-uuid')
  })

  it('raises the JSON error of a failed HTTP response', async () => {
    const fetchImpl = vi.fn(
      async () =>
        new Response('{"error":{"message":"Invalid API key","type":"authentication_error","code":"invalid_api_key"}}', {
          status: 401,
        }),
    )
    await expect(
      streamChat({ apiKey: 'x', model: 'm', messages: [], fetchImpl: fetchImpl as unknown as typeof fetch }),
    ).rejects.toMatchObject({ status: 401, message: 'Invalid API key' })
  })

  it('raises an error sent mid-stream', async () => {
    const fetchImpl = vi.fn(async () =>
      sseResponse(['data: {"choices":[{"delta":{"content":"par"}}]}\n\n', 'data: {"error":{"message":"Provider failed"}}\n\n']),
    )
    await expect(
      streamChat({ apiKey: 'x', model: 'm', messages: [], fetchImpl: fetchImpl as unknown as typeof fetch }),
    ).rejects.toThrow('Provider failed')
  })
})
