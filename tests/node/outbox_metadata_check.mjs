// Slack's official WebClient against the fake Slack for what the reply outbox relies on
// (bot/reply_outbox.h): a message posted with metadata, in a channel and in a thread, is listed
// with that metadata by conversations.history and conversations.replies when
// include_all_metadata is set, and without it otherwise.
// Usage: node outbox_metadata_check.mjs <api_url> <bot_token> <channel>
// Prints HISTORY/REPLIES/PLAIN lines and RESULT ok, exits 0; any failure exits non-zero.
import { LogLevel, WebClient } from '@slack/web-api';

const [apiUrl, botToken, channel] = process.argv.slice(2);
if (!apiUrl || !botToken || !channel) {
  console.error('usage: node outbox_metadata_check.mjs <api_url> <bot_token> <channel>');
  process.exit(64);
}
const web = new WebClient(botToken, {
  slackApiUrl: apiUrl,
  logLevel: LogLevel.WARN,
  retryConfig: { retries: 0 },
});
const metadata = (key) => ({ event_type: 'shipmate_reply', event_payload: { key } });

try {
  const top = await web.chat.postMessage({ channel, text: 'status', metadata: metadata('k#0') });
  await web.chat.postMessage({
    channel, text: 'detail', thread_ts: top.ts, metadata: metadata('k#1'),
  });
  const history = await web.conversations.history({ channel, include_all_metadata: true, limit: 10 });
  for (const m of history.messages) console.log(`HISTORY ${m.ts} ${m.metadata?.event_payload?.key ?? '-'}`);
  const replies = await web.conversations.replies({
    channel, ts: top.ts, include_all_metadata: true,
  });
  for (const m of replies.messages) console.log(`REPLIES ${m.ts} ${m.metadata?.event_payload?.key ?? '-'}`);
  const plain = await web.conversations.history({ channel });
  for (const m of plain.messages) console.log(`PLAIN ${m.ts} ${m.metadata ? 'metadata' : '-'}`);
  console.log(`RESULT ok top=${top.ts}`);
  process.exit(0);
} catch (error) {
  console.error(`FAILED ${error?.stack ?? error}`);
  process.exit(1);
}
