// Code snippets for calling the gateway with a model and a key: curl, Python and
// TypeScript with the official openai SDKs. The secret is never put in a snippet:
// it reads $GAIAROUTER_API_KEY from the environment.

export type SnippetLang = 'curl' | 'python' | 'typescript'

export const SNIPPET_LANGS: { value: SnippetLang; label: string }[] = [
  { value: 'curl', label: 'curl' },
  { value: 'python', label: 'Python' },
  { value: 'typescript', label: 'TypeScript' },
]

export const KEY_ENV = 'GAIAROUTER_API_KEY'

export interface SnippetInput {
  /** The gateway's origin, e.g. https://gateway.example.com (no trailing slash). */
  baseUrl: string
  model: string
  /** The key's name, written in a comment (never its secret). */
  keyName?: string | null
  prompt?: string
}

/** A string as a JSON / Python / TypeScript double-quoted literal. */
function lit(s: string): string {
  return JSON.stringify(s)
}

/** A string inside single quotes for a POSIX shell. */
function shellQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`
}

export function snippet(lang: SnippetLang, input: SnippetInput): string {
  const base = input.baseUrl.replace(/\/+$/, '')
  const model = input.model || 'MODEL'
  const prompt = input.prompt?.trim() || 'Hello!'
  const keyNote = input.keyName ? ` (the secret of the key “${input.keyName}”)` : ''
  switch (lang) {
    case 'curl': {
      const body = JSON.stringify({ model, messages: [{ role: 'user', content: prompt }] })
      return [
        `# export ${KEY_ENV}=gr-…${keyNote}`,
        `curl ${base}/v1/chat/completions \\`,
        `  -H "Authorization: Bearer $${KEY_ENV}" \\`,
        `  -H "Content-Type: application/json" \\`,
        `  -d ${shellQuote(body)}`,
      ].join('\n')
    }
    case 'python':
      return [
        `# pip install openai; export ${KEY_ENV}=gr-…${keyNote}`,
        'import os',
        'from openai import OpenAI',
        '',
        `client = OpenAI(base_url=${lit(base + '/v1')}, api_key=os.environ[${lit(KEY_ENV)}])`,
        'response = client.chat.completions.create(',
        `    model=${lit(model)},`,
        `    messages=[{"role": "user", "content": ${lit(prompt)}}],`,
        ')',
        'print(response.choices[0].message.content)',
      ].join('\n')
    case 'typescript':
      return [
        `// npm install openai; export ${KEY_ENV}=gr-…${keyNote}`,
        "import OpenAI from 'openai'",
        '',
        `const client = new OpenAI({ baseURL: ${lit(base + '/v1')}, apiKey: process.env.${KEY_ENV} })`,
        'const response = await client.chat.completions.create({',
        `  model: ${lit(model)},`,
        `  messages: [{ role: 'user', content: ${lit(prompt)} }],`,
        '})',
        'console.log(response.choices[0].message.content)',
      ].join('\n')
  }
}
