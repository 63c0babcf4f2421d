// openai-client.mjs BASE_URL MODEL STREAM(0|1) [PROMPT] [MAX_TOKENS]
// Sends one chat completion with the official openai package and prints the answer's
// content on the first line and "usage <prompt> <completion>" on the second.
import OpenAI from 'openai';

const [baseURL, model, stream = '0', prompt = 'Say hello.', maxTokens = '8'] = process.argv.slice(2);
if (!baseURL || !model) {
  console.error('usage: openai-client.mjs BASE_URL MODEL STREAM(0|1) [PROMPT] [MAX_TOKENS]');
  process.exit(2);
}

const client = new OpenAI({ baseURL, apiKey: 'none', maxRetries: 0, timeout: 30000 });
const req = {
  model,
  messages: [{ role: 'user', content: prompt }],
  max_tokens: Number(maxTokens),
};

try {
  if (stream === '1') {
    const s = await client.chat.completions.create({ ...req, stream: true, stream_options: { include_usage: true } });
    let text = '';
    let usage = null;
    for await (const chunk of s) {
      for (const c of chunk.choices) text += c.delta?.content ?? '';
      if (chunk.usage) usage = chunk.usage;
    }
    console.log(text);
    console.log(`usage ${usage?.prompt_tokens} ${usage?.completion_tokens}`);
  } else {
    const r = await client.chat.completions.create(req);
    console.log(r.choices[0].message.content);
    console.log(`usage ${r.usage.prompt_tokens} ${r.usage.completion_tokens}`);
  }
} catch (e) {
  console.error(`error: ${e.status ?? ''} ${e.message}`);
  process.exit(1);
}
