// Runs Slack's official Node clients against the fake Slack (tests/support/fake_slack.h).
// Usage: node socket_mode_check.mjs <api_url> <app_token> <bot_token>
// Connects with SocketModeClient (slackApiUrl = api_url), waits for one app_mention envelope,
// acks it, answers with WebClient chat.postMessage and filesUploadV2 in the mention's thread,
// prints a RESULT line and exits 0. Any failure exits non-zero. Ping timings are shortened so
// that a fake that mishandles pings shows up within the test's window.
import { SocketModeClient } from '@slack/socket-mode';
import { LogLevel, WebClient } from '@slack/web-api';

const [apiUrl, appToken, botToken] = process.argv.slice(2);
if (!apiUrl || !appToken || !botToken) {
  console.error('usage: node socket_mode_check.mjs <api_url> <app_token> <bot_token>');
  process.exit(64);
}

const deadline = setTimeout(() => {
  console.error('TIMEOUT waiting for an app_mention envelope');
  process.exit(2);
}, 60000);

const socket = new SocketModeClient({
  appToken,
  logLevel: LogLevel.WARN,
  clientOptions: { slackApiUrl: apiUrl, retryConfig: { retries: 0 } },
  // The client pings every clientPingTimeout/3 ms and drops the link when a pong is late; it
  // also drops it when no server ping arrives within serverPingTimeout.
  clientPingTimeout: 1500,
  serverPingTimeout: 2000,
});

socket.on('connected', () => console.log('CONNECTED'));
socket.on('reconnecting', () => console.log('RECONNECTING'));
socket.on('slack_event', ({ type, envelope_id }) => console.log(`SLACK_EVENT ${type} ${envelope_id}`));

socket.on('app_mention', async ({ event, ack, envelope_id, retry_num, retry_reason }) => {
  try {
    await ack();
    console.log(`ACKED ${envelope_id} retry_num=${retry_num} retry_reason=${retry_reason}`);
    const web = new WebClient(botToken, { slackApiUrl: apiUrl, retryConfig: { retries: 0 } });
    const posted = await web.chat.postMessage({
      channel: event.channel,
      text: `hello <@${event.user}>`,
      thread_ts: event.ts,
    });
    // The current file upload flow: getUploadURLExternal, POST to the upload URL, complete.
    const uploaded = await web.filesUploadV2({
      channel_id: event.channel,
      thread_ts: event.ts,
      filename: 'status.txt',
      title: 'Status',
      content: 'all good\n',
      initial_comment: 'status attached',
    });
    const fileId = uploaded.files?.[0]?.files?.[0]?.id;
    console.log(`RESULT ok=${posted.ok} channel=${posted.channel} ts=${posted.ts} file=${fileId}`);
    await socket.disconnect();
    clearTimeout(deadline);
    process.exit(0);
  } catch (error) {
    console.error(`FAILED ${error?.stack ?? error}`);
    process.exit(1);
  }
});

try {
  await socket.start();
} catch (error) {
  console.error(`START FAILED ${error?.stack ?? error}`);
  process.exit(1);
}
