// GaiaRouter's Messages API through the official Anthropic TypeScript SDK
// (@anthropic-ai/sdk, installed by `npm ci` in tests/sdk), against the real server.
//
// Usage: node tests/sdk/anthropic_sdk.mjs BASE_URL ADMIN_USERNAME ADMIN_PASSWORD UPSTREAM_URL CREDENTIAL
// The same checks as anthropic_sdk.py: three routes to a running fake_upstream
// (src/bin/fake_upstream.rs) — Anthropic (passed through), OpenAI and Gemini
// (translated) — and on each a message, a streamed message ('text' events and
// finalMessage()), a streamed tool call ('inputJson' events, the final tool_use
// input), a tool result answered, countTokens; then a 401 and a 429 raised as the
// SDK's AuthenticationError and RateLimitError. The fake calls the first tool offered
// with {"city": "Paris"} unless the last turn is a tool result, and otherwise answers
// "Hello from the fake upstream.".
// Prints one line per check and ends with "anthropic-ts-sdk: N passed, M failed".

import { isDeepStrictEqual } from 'node:util';

import Anthropic from '@anthropic-ai/sdk';

const [base, username, password, upstream, credential] = process.argv.slice(2);
const TEXT = 'Hello from the fake upstream.';
const WEATHER = { city: 'Paris' };
const TOOLS = [
  {
    name: 'get_weather',
    description: 'The current weather in a city',
    input_schema: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
  },
];
const QUESTION = [{ role: 'user', content: 'What is the weather in Paris?' }];
// Unique per run (the Python check creates its own routes on the same server), and
// leading: a route named like a built-in model id (`gemini-...`) is refused.
const prefix = `sdk-ts-${Date.now()}`;

async function admin(path, body, token) {
  const headers = { 'content-type': 'application/json' };
  if (token) headers.authorization = `Bearer ${token}`;
  const answer = await fetch(base + path, { method: 'POST', headers, body: JSON.stringify(body) });
  if (!answer.ok) throw new Error(`${path}: ${answer.status} ${await answer.text()}`);
  return answer.json();
}

let passed = 0;
let failed = 0;

function check(name, condition, detail = '') {
  if (condition) {
    passed += 1;
    console.log(`ok    ${name}`);
  } else {
    failed += 1;
    console.log(`FAIL  ${name}: ${typeof detail === 'string' ? detail : JSON.stringify(detail)}`);
  }
}

/** Runs one check; an exception is that check's failure, not the script's end. */
async function attempt(name, run) {
  try {
    await run();
  } catch (error) {
    check(name, false, `${error?.constructor?.name}: ${error?.message}`);
  }
}

const textOf = (message) =>
  message.content
    .filter((block) => block.type === 'text')
    .map((block) => block.text)
    .join('');
const toolUseOf = (message) => message.content.find((block) => block.type === 'tool_use');

const token = (await admin('/v1/auth/login', { username, password })).access_token;
const routes = {
  anthropic: { provider: 'anthropic', model: 'claude-sonnet-4-5', base_url: upstream },
  openai: { provider: 'openai', model: 'gpt-4o-mini', base_url: `${upstream}/v1` },
  gemini: { provider: 'google', model: 'gemini-2.5-flash', base_url: upstream },
};
for (const [kind, deployment] of Object.entries(routes)) {
  await admin('/v1/routes', { name: `${prefix}-${kind}`, deployments: [{ ...deployment, credential }] }, token);
}
const org = (await admin('/v1/organizations', { name: `Anthropic TS SDK ${prefix}` }, token)).id;
const { key } = await admin('/v1/api-keys', { organization_id: org, name: 'anthropic-ts-sdk', permission: 'read' }, token);
const client = new Anthropic({ baseURL: base, apiKey: key, maxRetries: 0, timeout: 30_000 });

for (const kind of Object.keys(routes)) {
  const model = `${prefix}-${kind}`;

  await attempt(`${kind}: create`, async () => {
    const message = await client.messages.create({ model, max_tokens: 256, messages: QUESTION });
    check(
      `${kind}: messages.create answers text`,
      textOf(message) === TEXT && message.stop_reason === 'end_turn' && message.model === model,
      message,
    );
    check(`${kind}: messages.create usage`, message.usage.input_tokens > 0 && message.usage.output_tokens > 0, message.usage);
  });

  await attempt(`${kind}: stream`, async () => {
    const pieces = [];
    const stream = client.messages.stream({ model, max_tokens: 256, messages: QUESTION }).on('text', (delta) => pieces.push(delta));
    const final = await stream.finalMessage();
    check(`${kind}: messages.stream text events`, pieces.join('') === TEXT && pieces.length > 1, pieces);
    check(
      `${kind}: messages.stream finalMessage`,
      textOf(final) === TEXT && final.stop_reason === 'end_turn' && final.usage.output_tokens > 0 && final.model === model,
      final,
    );
  });

  await attempt(`${kind}: tool round`, async () => {
    const partial = [];
    const stream = client.messages
      .stream({ model, max_tokens: 256, messages: QUESTION, tools: TOOLS })
      .on('inputJson', (delta) => partial.push(delta));
    const final = await stream.finalMessage();
    const call = toolUseOf(final);
    check(
      `${kind}: streamed tool call input`,
      call?.name === 'get_weather' && isDeepStrictEqual(call.input, WEATHER) && final.stop_reason === 'tool_use',
      final,
    );
    check(
      `${kind}: streamed tool call inputJson events`,
      partial.length > 0 && isDeepStrictEqual(JSON.parse(partial.join('')), WEATHER),
      partial,
    );
    if (!call) return;
    const answered = await client.messages.create({
      model,
      max_tokens: 256,
      tools: TOOLS,
      messages: [
        ...QUESTION,
        { role: 'assistant', content: final.content },
        { role: 'user', content: [{ type: 'tool_result', tool_use_id: call.id, content: '18°C, sunny' }] },
      ],
    });
    check(`${kind}: a tool result is answered`, textOf(answered) === TEXT && answered.stop_reason === 'end_turn', answered);
  });

  await attempt(`${kind}: tool call`, async () => {
    const message = await client.messages.create({ model, max_tokens: 256, messages: QUESTION, tools: TOOLS });
    const call = toolUseOf(message);
    check(
      `${kind}: messages.create tool call`,
      call?.name === 'get_weather' && isDeepStrictEqual(call.input, WEATHER) && message.stop_reason === 'tool_use',
      message,
    );
  });

  await attempt(`${kind}: countTokens`, async () => {
    const counted = await client.messages.countTokens({ model, messages: QUESTION, tools: TOOLS });
    check(`${kind}: messages.countTokens`, Number.isInteger(counted.input_tokens) && counted.input_tokens > 0, counted);
  });
}

await attempt('a wrong key raises AuthenticationError', async () => {
  const wrong = new Anthropic({ baseURL: base, apiKey: 'gr-wrong-key', maxRetries: 0, timeout: 30_000 });
  try {
    await wrong.messages.create({ model: `${prefix}-anthropic`, max_tokens: 16, messages: QUESTION });
    check('a wrong key raises AuthenticationError', false, 'no error');
  } catch (error) {
    check(
      'a wrong key raises AuthenticationError',
      error instanceof Anthropic.AuthenticationError && error.status === 401 && error.error?.error?.type === 'authentication_error',
      { name: error?.constructor?.name, status: error?.status, body: error?.error },
    );
  }
});

await attempt('an exhausted limit raises RateLimitError', async () => {
  const org = (await admin('/v1/organizations', { name: `Anthropic TS SDK limited ${prefix}`, limits: { monthly_requests: 1 } }, token)).id;
  const { key } = await admin('/v1/api-keys', { organization_id: org, name: 'limited', permission: 'read' }, token);
  const limited = new Anthropic({ baseURL: base, apiKey: key, maxRetries: 0, timeout: 30_000 });
  await limited.messages.create({ model: `${prefix}-openai`, max_tokens: 16, messages: QUESTION });
  try {
    for (let i = 0; i < 3; i += 1) {
      await limited.messages.create({ model: `${prefix}-openai`, max_tokens: 16, messages: QUESTION });
    }
    check('an exhausted limit raises RateLimitError', false, 'no error');
  } catch (error) {
    check(
      'an exhausted limit raises RateLimitError',
      error instanceof Anthropic.RateLimitError && error.status === 429 && error.error?.error?.type === 'rate_limit_error',
      { name: error?.constructor?.name, status: error?.status, body: error?.error },
    );
  }
});

console.log(`anthropic-ts-sdk: ${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
