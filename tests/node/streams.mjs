// streams.mjs URL MODEL N MAX_TOKENS
// Opens N concurrent streaming chat completions at URL (.../v1/chat/completions), each
// on its own keep-alive connection, and prints "done <complete streams> of N" where a
// stream is complete when it ends with "data: [DONE]" after MAX_TOKENS content chunks.
import http from 'node:http';

const [url, model, nStr = '100', maxStr = '16'] = process.argv.slice(2);
const n = Number(nStr);
const maxTokens = Number(maxStr);
const agent = new http.Agent({ keepAlive: true, maxSockets: n });

function one(i) {
  return new Promise((resolve) => {
    const body = JSON.stringify({
      model,
      stream: true,
      max_tokens: maxTokens,
      ignore_eos: true,
      messages: [{ role: 'user', content: `stream number ${i}` }],
    });
    const req = http.request(url, {
      method: 'POST',
      agent,
      headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
    }, (res) => {
      let data = '';
      res.setEncoding('utf8');
      res.on('data', (d) => { data += d; });
      res.on('end', () => {
        const tokens = (data.match(/"delta":\{"content":"[^"]+"/g) || []).length;
        resolve(res.statusCode === 200 && data.endsWith('data: [DONE]\n\n') && tokens === maxTokens);
      });
      res.on('error', () => resolve(false));
    });
    req.on('error', () => resolve(false));
    req.setTimeout(60000, () => { req.destroy(); });
    req.end(body);
  });
}

const results = await Promise.all(Array.from({ length: n }, (_, i) => one(i)));
console.log(`done ${results.filter(Boolean).length} of ${n}`);
agent.destroy();
