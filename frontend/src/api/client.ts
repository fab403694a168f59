// Minimal fetch wrapper: relative URLs, bearer auth, friendly errors, 401 handling.

export class ApiError extends Error {
  readonly status: number
  readonly type: string | null
  readonly code: string | null

  constructor(status: number, message: string, type: string | null = null, code: string | null = null) {
    super(message)
    this.name = 'ApiError'
    this.status = status
    this.type = type
    this.code = code
  }

  /** The endpoint does not exist (yet) on this server. */
  get notAvailable(): boolean {
    return this.status === 404 || this.status === 405 || this.status === 501
  }
}

const STATUS_MESSAGES: Record<number, string> = {
  0: 'Cannot reach the GaiaRouter server. Check your connection and try again.',
  400: 'The request was not valid.',
  401: 'Your session has ended. Please sign in again.',
  403: 'You do not have permission to do this.',
  404: 'Not found, or not available on this server yet.',
  405: 'Not available on this server yet.',
  409: 'This item was changed by someone else. Reload and try again.',
  413: 'The request is too large.',
  422: 'Some fields are not valid.',
  429: 'Too many requests or a limit was reached. Try again later.',
  500: 'The server had an internal error.',
  501: 'Not available on this server yet.',
  502: 'The upstream provider failed.',
  503: 'The service is unavailable right now.',
  504: 'The upstream provider timed out.',
}

export function statusMessage(status: number): string {
  return STATUS_MESSAGES[status] ?? (status >= 500 ? 'The server had an error.' : `Request failed (HTTP ${status}).`)
}

/**
 * Turns any error body into an ApiError. Understands the OpenAI error shape
 * `{"error":{"message","type","code"}}`, plus `{"error":"..."}` and `{"message":"..."}`.
 */
export function parseErrorBody(status: number, body: string): ApiError {
  const text = body.trim()
  if (text) {
    try {
      const json = JSON.parse(text) as unknown
      const err = errorFromJson(json, status)
      if (err) return err
    } catch {
      // Not JSON: fall through. Short plain-text bodies are still useful.
      if (text.length <= 200 && !text.startsWith('<')) return new ApiError(status, text)
    }
  }
  return new ApiError(status, statusMessage(status))
}

/** Extracts an error from an already-parsed JSON value, or null if it is not one. */
export function errorFromJson(json: unknown, status = 0): ApiError | null {
  if (!json || typeof json !== 'object') return null
  const obj = json as Record<string, unknown>
  const e = obj.error
  if (e && typeof e === 'object') {
    const inner = e as Record<string, unknown>
    const message = typeof inner.message === 'string' && inner.message ? inner.message : statusMessage(status)
    const code = inner.code == null ? null : String(inner.code)
    const type = typeof inner.type === 'string' ? inner.type : null
    return new ApiError(status, message, type, code)
  }
  if (typeof e === 'string' && e) return new ApiError(status, e)
  if (typeof obj.message === 'string' && obj.message && status >= 400) return new ApiError(status, obj.message)
  return null
}

export type Query = Record<string, string | number | boolean | null | undefined>

export function buildUrl(path: string, query?: Query): string {
  if (!query) return path
  const params = new URLSearchParams()
  for (const [k, v] of Object.entries(query)) {
    if (v === undefined || v === null || v === '') continue
    params.append(k, String(v))
  }
  const qs = params.toString()
  return qs ? `${path}${path.includes('?') ? '&' : '?'}${qs}` : path
}

export interface RequestOptions {
  query?: Query
  body?: unknown
  /** Use this bearer token instead of the session token (e.g. an API key). */
  token?: string | null
  /** Do not send the session token and do not treat 401 as session end (login). */
  anonymous?: boolean
  signal?: AbortSignal
  headers?: Record<string, string>
}

export interface ClientConfig {
  getToken: () => string | null
  /** Called on a 401 of an authenticated call, or when the token is found expired. */
  onUnauthorized: (reason: 'unauthorized' | 'expired') => void
  isExpired?: () => boolean
  fetch?: typeof fetch
}

export class ApiClient {
  private config: ClientConfig

  constructor(config: ClientConfig) {
    this.config = config
  }

  configure(config: Partial<ClientConfig>) {
    this.config = { ...this.config, ...config }
  }

  /** Performs the request and returns the raw Response (after error handling). */
  async raw(method: string, path: string, opts: RequestOptions = {}): Promise<Response> {
    const headers: Record<string, string> = { Accept: 'application/json', ...(opts.headers ?? {}) }
    let sessionAuth = false
    if (opts.token) {
      headers.Authorization = `Bearer ${opts.token}`
    } else if (!opts.anonymous) {
      if (this.config.isExpired?.()) {
        this.config.onUnauthorized('expired')
        throw new ApiError(401, 'Your session has expired. Please sign in again.', 'session_expired')
      }
      const token = this.config.getToken()
      if (token) {
        headers.Authorization = `Bearer ${token}`
        sessionAuth = true
      }
    }
    let body: BodyInit | undefined
    if (opts.body !== undefined) {
      headers['Content-Type'] = 'application/json'
      body = JSON.stringify(opts.body)
    }
    const doFetch = this.config.fetch ?? globalThis.fetch.bind(globalThis)
    let res: Response
    try {
      res = await doFetch(buildUrl(path, opts.query), { method, headers, body, signal: opts.signal })
    } catch (e) {
      if (e instanceof DOMException && e.name === 'AbortError') throw e
      if (e instanceof Error && e.name === 'AbortError') throw e
      throw new ApiError(0, statusMessage(0), 'network_error')
    }
    if (!res.ok) {
      const text = await res.text().catch(() => '')
      const err = parseErrorBody(res.status, text)
      if (res.status === 401 && sessionAuth) this.config.onUnauthorized('unauthorized')
      throw err
    }
    return res
  }

  async request<T>(method: string, path: string, opts: RequestOptions = {}): Promise<T> {
    const res = await this.raw(method, path, opts)
    if (res.status === 204) return undefined as T
    const text = await res.text()
    if (!text) return undefined as T
    try {
      return JSON.parse(text) as T
    } catch {
      throw new ApiError(res.status, 'The server sent an answer that could not be read.', 'invalid_response')
    }
  }

  get<T>(path: string, opts?: RequestOptions) {
    return this.request<T>('GET', path, opts)
  }
  post<T>(path: string, body?: unknown, opts?: RequestOptions) {
    return this.request<T>('POST', path, { ...opts, body })
  }
  patch<T>(path: string, body?: unknown, opts?: RequestOptions) {
    return this.request<T>('PATCH', path, { ...opts, body })
  }
  delete<T>(path: string, opts?: RequestOptions) {
    return this.request<T>('DELETE', path, opts)
  }

  /** Downloads a file with the auth header; returns the blob and a suggested filename. */
  async download(path: string, opts: RequestOptions = {}): Promise<{ blob: Blob; filename: string | null }> {
    const res = await this.raw('GET', path, { ...opts, headers: { Accept: 'text/csv, */*', ...(opts.headers ?? {}) } })
    const blob = await res.blob()
    const cd = res.headers.get('Content-Disposition') ?? ''
    const m = /filename\*?=(?:UTF-8'')?"?([^";]+)"?/i.exec(cd)
    return { blob, filename: m ? decodeURIComponent(m[1]) : null }
  }
}

/** Human message for any thrown value. */
export function errorMessage(e: unknown): string {
  if (e instanceof ApiError) return e.message
  if (e instanceof Error) return e.message || 'Something went wrong.'
  return 'Something went wrong.'
}

/** The client the app uses; the auth store configures it at start-up. */
export const api = new ApiClient({
  getToken: () => null,
  onUnauthorized: () => {},
})
