import { describe, expect, it, vi } from 'vitest'
import { ApiClient, ApiError, buildUrl, errorMessage, parseErrorBody } from '@/api/client'

function json(status: number, body: unknown) {
  return new Response(JSON.stringify(body), { status, headers: { 'Content-Type': 'application/json' } })
}

function client(opts: { token?: string | null; expired?: boolean; fetch: typeof fetch }) {
  const onUnauthorized = vi.fn()
  const c = new ApiClient({
    getToken: () => opts.token ?? null,
    isExpired: () => !!opts.expired,
    onUnauthorized,
    fetch: opts.fetch,
  })
  return { c, onUnauthorized }
}

describe('ApiClient', () => {
  it('sends the bearer token and JSON body to a relative URL', async () => {
    const fetchMock = vi.fn(async () => json(201, { id: 'o1' }))
    const { c } = client({ token: 'jwt-1', fetch: fetchMock as unknown as typeof fetch })
    const res = await c.post<{ id: string }>('/v1/organizations', { name: 'Acme' })
    expect(res.id).toBe('o1')
    const [url, init] = fetchMock.mock.calls[0] as unknown as [string, RequestInit]
    expect(url).toBe('/v1/organizations')
    const headers = init.headers as Record<string, string>
    expect(headers.Authorization).toBe('Bearer jwt-1')
    expect(headers['Content-Type']).toBe('application/json')
    expect(init.method).toBe('POST')
    expect(JSON.parse(init.body as string)).toEqual({ name: 'Acme' })
  })

  it('uses an explicit token instead of the session one, and none for anonymous calls', async () => {
    const fetchMock = vi.fn(async () => json(200, {}))
    const { c } = client({ token: 'jwt-1', fetch: fetchMock as unknown as typeof fetch })
    await c.get('/v1/models', { token: 'gr-key' })
    await c.post('/v1/auth/login', { username: 'a' }, { anonymous: true })
    const h1 = (fetchMock.mock.calls[0] as unknown as [string, RequestInit])[1].headers as Record<string, string>
    const h2 = (fetchMock.mock.calls[1] as unknown as [string, RequestInit])[1].headers as Record<string, string>
    expect(h1.Authorization).toBe('Bearer gr-key')
    expect(h2.Authorization).toBeUndefined()
  })

  it('drops empty query parameters', async () => {
    const fetchMock = vi.fn(async () => json(200, { data: [] }))
    const { c } = client({ token: 't', fetch: fetchMock as unknown as typeof fetch })
    await c.get('/v1/logs', { query: { limit: 50, model: '', status: undefined, after: null, provider: 'openai' } })
    expect((fetchMock.mock.calls[0] as unknown as [string])[0]).toBe('/v1/logs?limit=50&provider=openai')
  })

  it('ends the session on 401 of an authenticated call', async () => {
    const fetchMock = vi.fn(async () => json(401, { error: { message: 'token expired', type: 'authentication_error', code: 'invalid_token' } }))
    const { c, onUnauthorized } = client({ token: 't', fetch: fetchMock as unknown as typeof fetch })
    const err = (await c.get('/v1/organizations').catch((e) => e)) as ApiError
    expect(err).toBeInstanceOf(ApiError)
    expect(err.status).toBe(401)
    expect(err.message).toBe('token expired')
    expect(err.code).toBe('invalid_token')
    expect(onUnauthorized).toHaveBeenCalledWith('unauthorized')
  })

  it('does not end the session on a 401 of a login or an explicit-key call', async () => {
    const fetchMock = vi.fn(async () => json(401, { error: { message: 'bad credentials' } }))
    const { c, onUnauthorized } = client({ token: 't', fetch: fetchMock as unknown as typeof fetch })
    await expect(c.post('/v1/auth/login', {}, { anonymous: true })).rejects.toThrow('bad credentials')
    await expect(c.get('/v1/models', { token: 'gr-x' })).rejects.toThrow('bad credentials')
    expect(onUnauthorized).not.toHaveBeenCalled()
  })

  it('refuses to call with an expired token', async () => {
    const fetchMock = vi.fn()
    const { c, onUnauthorized } = client({ token: 't', expired: true, fetch: fetchMock as unknown as typeof fetch })
    await expect(c.get('/v1/stats')).rejects.toBeInstanceOf(ApiError)
    expect(fetchMock).not.toHaveBeenCalled()
    expect(onUnauthorized).toHaveBeenCalledWith('expired')
  })

  it('turns network failures into a friendly error', async () => {
    const fetchMock = vi.fn(async () => {
      throw new TypeError('Failed to fetch')
    })
    const { c } = client({ token: 't', fetch: fetchMock as unknown as typeof fetch })
    const err = (await c.get('/v1/stats').catch((e) => e)) as ApiError
    expect(err.status).toBe(0)
    expect(err.message).toMatch(/Cannot reach/)
  })

  it('marks 404s as not available', async () => {
    const fetchMock = vi.fn(async () => new Response('', { status: 404 }))
    const { c } = client({ token: 't', fetch: fetchMock as unknown as typeof fetch })
    const err = (await c.get('/v1/projections').catch((e) => e)) as ApiError
    expect(err.notAvailable).toBe(true)
    expect(errorMessage(err)).toMatch(/not available/i)
  })

  it('downloads a blob with the auth header', async () => {
    const fetchMock = vi.fn(
      async () =>
        new Response('id,model\n1,echo/test\n', {
          status: 200,
          headers: { 'Content-Type': 'text/csv', 'Content-Disposition': 'attachment; filename="requests.csv"' },
        }),
    )
    const { c } = client({ token: 'jwt', fetch: fetchMock as unknown as typeof fetch })
    const { blob, filename } = await c.download('/v1/logs', { query: { format: 'csv' } })
    expect(filename).toBe('requests.csv')
    expect(await blob.text()).toContain('echo/test')
    const [url, init] = fetchMock.mock.calls[0] as unknown as [string, RequestInit]
    expect(url).toBe('/v1/logs?format=csv')
    expect((init.headers as Record<string, string>).Authorization).toBe('Bearer jwt')
  })
})

describe('parseErrorBody', () => {
  it('reads the OpenAI error shape', () => {
    const e = parseErrorBody(429, '{"error":{"message":"Monthly request limit reached","type":"limit_exceeded","code":"monthly_requests"}}')
    expect(e.message).toBe('Monthly request limit reached')
    expect(e.type).toBe('limit_exceeded')
    expect(e.code).toBe('monthly_requests')
  })
  it('reads string errors and message fields', () => {
    expect(parseErrorBody(400, '{"error":"name is required"}').message).toBe('name is required')
    expect(parseErrorBody(422, '{"message":"invalid limits"}').message).toBe('invalid limits')
  })
  it('falls back to a status message for empty or HTML bodies', () => {
    expect(parseErrorBody(403, '').message).toMatch(/permission/)
    expect(parseErrorBody(502, '<html>Bad gateway</html>').message).toMatch(/upstream/)
  })
  it('keeps short plain-text bodies', () => {
    expect(parseErrorBody(400, 'missing field `name`').message).toBe('missing field `name`')
  })
})

describe('buildUrl', () => {
  it('appends to existing query strings and encodes values', () => {
    expect(buildUrl('/v1/x?a=1', { b: 'c d' })).toBe('/v1/x?a=1&b=c+d')
    expect(buildUrl('/v1/x', {})).toBe('/v1/x')
  })
})
