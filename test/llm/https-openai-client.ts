// A child process for the HTTPS gateway test: the official openai SDK streams one chat from the
// gateway at argv[2] with the key argv[3]. The test CA reaches Node through NODE_EXTRA_CA_CERTS,
// as it would for any client of a gateway with a private CA. Prints the answer as JSON.
import OpenAI from 'openai';

const [baseURL, apiKey] = process.argv.slice(2);
const client = new OpenAI({ baseURL, apiKey, maxRetries: 0 });
const stream = await client.chat.completions.create({
  model: 'sim',
  messages: [{ role: 'user', content: 'hello over tls' }],
  max_tokens: 5,
  stream: true,
});
let text = '';
let chunks = 0;
for await (const c of stream) {
  chunks++;
  text += c.choices[0]?.delta.content ?? '';
}
process.stdout.write(JSON.stringify({ text, chunks }) + '\n');
