// Streaming chat completions against the gateway (OpenAI-compatible SSE).
import { ApiError, errorFromJson, parseErrorBody, statusMessage } from './client'
import { SseParser } from './sse'
import type { ChatMessage, ChatUsage } from './types'

export interface ChatStreamCallbacks {
  onDelta?: (text: string) => void
  onFirstToken?: (ms: number) => void
  onUsage?: (usage: ChatUsage) => void
}

export interface ChatResult {
  content: string
  usage: ChatUsage | null
  finishReason: string | null
  model: string | null
  id: string | null
  latencyMs: number
  ttftMs: number | null
  done: boolean
}

interface ChunkChoice {
  delta?: { content?: string | null; role?: string }
  finish_reason?: string | null
}

interface Chunk {
  id?: string
  object?: string
  model?: string
  choices?: ChunkChoice[]
  usage?: ChatUsage | null
}

/**
 * Processes one SSE data payload of a chat stream, updating `state`.
 * Returns 'done' at `[DONE]`. Throws ApiError for an error payload.
 */
export function applyChunk(data: string, state: ChatResult): 'done' | 'continue' {
  const trimmed = data.trim()
  if (trimmed === '[DONE]') {
    state.done = true
    return 'done'
  }
  if (!trimmed) return 'continue'
  let json: unknown
  try {
    json = JSON.parse(trimmed)
  } catch {
    throw new ApiError(502, 'The gateway sent a stream chunk that could not be read.', 'invalid_stream')
  }
  const err = errorFromJson(json, 502)
  if (err) throw err
  const chunk = json as Chunk
  if (chunk.id && !state.id) state.id = chunk.id
  if (chunk.model && !state.model) state.model = chunk.model
  for (const choice of chunk.choices ?? []) {
    const text = choice.delta?.content
    if (text) state.content += text
    if (choice.finish_reason) state.finishReason = choice.finish_reason
  }
  if (chunk.usage) state.usage = chunk.usage
  return 'continue'
}

/** The header with which an operator's session runs a request as one of the API keys. */
export const KEY_ID_HEADER = 'X-GaiaRouter-Key-Id'

export async function streamChat(opts: {
  /** An API key's secret, or an operator's session token together with `keyId`. */
  apiKey: string
  /** Run as this API key (operator sessions only): its limits, its organization. */
  keyId?: string | null
  model: string
  messages: ChatMessage[]
  maxTokens?: number | null
  temperature?: number | null
  signal?: AbortSignal
  callbacks?: ChatStreamCallbacks
  fetchImpl?: typeof fetch
  now?: () => number
}): Promise<ChatResult> {
  const now = opts.now ?? (() => performance.now())
  const started = now()
  const body: Record<string, unknown> = {
    model: opts.model,
    messages: opts.messages,
    stream: true,
    stream_options: { include_usage: true },
  }
  if (opts.maxTokens) body.max_tokens = opts.maxTokens
  if (opts.temperature != null) body.temperature = opts.temperature
  const doFetch = opts.fetchImpl ?? globalThis.fetch.bind(globalThis)
  let res: Response
  try {
    res = await doFetch('/v1/chat/completions', {
      method: 'POST',
      headers: {
        Authorization: `Bearer ${opts.apiKey}`,
        'Content-Type': 'application/json',
        Accept: 'text/event-stream',
        ...(opts.keyId ? { [KEY_ID_HEADER]: opts.keyId } : {}),
      },
      body: JSON.stringify(body),
      signal: opts.signal,
    })
  } catch (e) {
    if (e instanceof Error && e.name === 'AbortError') throw e
    throw new ApiError(0, statusMessage(0), 'network_error')
  }
  if (!res.ok) {
    throw parseErrorBody(res.status, await res.text().catch(() => ''))
  }
  const state: ChatResult = {
    content: '',
    usage: null,
    finishReason: null,
    model: null,
    id: null,
    latencyMs: 0,
    ttftMs: null,
    done: false,
  }
  const contentType = res.headers.get('Content-Type') ?? ''
  if (!res.body || contentType.includes('application/json')) {
    // A non-streamed answer (server ignored stream:true): accept it too.
    const json = (await res.json()) as {
      choices?: { message?: { content?: string }; finish_reason?: string }[]
      usage?: ChatUsage
      model?: string
    }
    const err = errorFromJson(json, res.status)
    if (err) throw err
    state.content = json.choices?.[0]?.message?.content ?? ''
    state.finishReason = json.choices?.[0]?.finish_reason ?? null
    state.usage = json.usage ?? null
    state.model = json.model ?? null
    state.latencyMs = now() - started
    state.ttftMs = state.latencyMs
    state.done = true
    if (state.content) opts.callbacks?.onDelta?.(state.content)
    if (state.usage) opts.callbacks?.onUsage?.(state.usage)
    return state
  }
  const reader = res.body.getReader()
  const decoder = new TextDecoder()
  const parser = new SseParser()
  let finished = false
  const handle = (data: string) => {
    const before = state.content.length
    const hadUsage = state.usage
    const r = applyChunk(data, state)
    if (state.content.length > before) {
      if (state.ttftMs === null) {
        state.ttftMs = now() - started
        opts.callbacks?.onFirstToken?.(state.ttftMs)
      }
      opts.callbacks?.onDelta?.(state.content.slice(before))
    }
    if (state.usage && state.usage !== hadUsage) opts.callbacks?.onUsage?.(state.usage)
    if (r === 'done') finished = true
  }
  try {
    while (!finished) {
      const { value, done } = await reader.read()
      if (done) {
        for (const ev of parser.push(decoder.decode())) handle(ev.data)
        for (const ev of parser.flush()) if (!finished) handle(ev.data)
        break
      }
      for (const ev of parser.push(decoder.decode(value, { stream: true }))) {
        if (finished) break
        handle(ev.data)
      }
    }
  } finally {
    if (finished) reader.cancel().catch(() => {})
  }
  state.latencyMs = now() - started
  if (!state.done && !state.content && !state.usage) {
    throw new ApiError(502, 'The stream ended before any answer arrived.', 'incomplete_stream')
  }
  return state
}
