// Runs Slack's official WebClient against the fake Slack's incident-room methods
// (tests/support/fake_slack.h), the ones Shipmate's Slack transport calls for an incident room.
// Usage: node slack_rooms_check.mjs <api_url> <bot_token> <room_name> <user_ids> <existing_channel>
// Creates the room (and again, expecting name_taken), invites the users, sets the topic, posts
// and pins a message, pages through conversations.list one channel at a time until it has seen
// the room and the existing channel, reads the pinned message back with conversations.history,
// reads who made the room and the existing channel (conversations.info),
// creates a private room, archives the first room (and again, expecting already_archived; a post
// there then fails with is_archived; conversations.list leaves it out), prints one line per step
// and exits 0. Any failure exits non-zero.
import { LogLevel, WebClient } from '@slack/web-api';

const [apiUrl, botToken, roomName, users, existing] = process.argv.slice(2);
if (!apiUrl || !botToken || !roomName || !users || !existing) {
  console.error('usage: node slack_rooms_check.mjs <api_url> <bot_token> <room> <users> <existing>');
  process.exit(64);
}
const web = new WebClient(botToken, {
  slackApiUrl: apiUrl,
  logLevel: LogLevel.WARN,
  retryConfig: { retries: 0 },
});

try {
  const created = await web.conversations.create({ name: roomName });
  const room = created.channel.id;
  console.log(`CREATED ${room} ${created.channel.name}`);
  try {
    await web.conversations.create({ name: roomName });
    console.log('SECOND CREATE SUCCEEDED');
    process.exit(1);
  } catch (error) {
    console.log(`SECOND CREATE ${error?.data?.error}`);
  }
  const invited = await web.conversations.invite({ channel: room, users });
  console.log(`INVITED ok=${invited.ok}`);
  try {
    await web.conversations.invite({ channel: room, users });
  } catch (error) {
    console.log(`INVITE AGAIN ${error?.data?.error}`);
  }
  const topic = await web.conversations.setTopic({ channel: room, topic: 'INC-1 sev2 investigating' });
  console.log(`TOPIC ${topic.channel.topic.value}`);
  const posted = await web.chat.postMessage({ channel: room, text: 'summary card' });
  const pinned = await web.pins.add({ channel: room, timestamp: posted.ts });
  console.log(`PINNED ok=${pinned.ok} ts=${posted.ts}`);
  try {
    await web.pins.add({ channel: room, timestamp: posted.ts });
  } catch (error) {
    console.log(`PIN AGAIN ${error?.data?.error}`);
  }
  const seen = [];
  let pages = 0;
  for await (const page of web.paginate('conversations.list', {
    limit: 1,
    types: 'public_channel,private_channel',
    exclude_archived: true,
  })) {
    pages += 1;
    for (const channel of page.channels) seen.push(`${channel.name}=${channel.id}`);
  }
  console.log(`LISTED pages=${pages} ${seen.join(' ')}`);
  const history = await web.conversations.history({
    channel: room,
    latest: posted.ts,
    inclusive: true,
    limit: 1,
  });
  console.log(`HISTORY ${history.messages.length} ${history.messages[0]?.ts} ${history.messages[0]?.text}`);
  // Who made each channel and when (what a resumed room create checks before adopting one).
  const mine = await web.conversations.info({ channel: room });
  const theirs = await web.conversations.info({ channel: existing });
  console.log(`INFO ${mine.channel.id} creator=${mine.channel.creator} created=${mine.channel.created > 0} ` +
              `${theirs.channel.id} creator=${theirs.channel.creator}`);
  try {
    await web.conversations.info({ channel: 'CNOSUCH' });
  } catch (error) {
    console.log(`INFO MISSING ${error?.data?.error}`);
  }
  // A private incident room, then the first room archived once the incident is over.
  const secret = await web.conversations.create({ name: `${roomName}-private`, is_private: true });
  console.log(`PRIVATE ${secret.channel.id} is_private=${secret.channel.is_private}`);
  const archived = await web.conversations.archive({ channel: room });
  console.log(`ARCHIVED ok=${archived.ok}`);
  try {
    await web.conversations.archive({ channel: room });
  } catch (error) {
    console.log(`ARCHIVE AGAIN ${error?.data?.error}`);
  }
  try {
    await web.chat.postMessage({ channel: room, text: 'too late' });
  } catch (error) {
    console.log(`POST ARCHIVED ${error?.data?.error}`);
  }
  const left = [];
  for await (const page of web.paginate('conversations.list', {
    types: 'public_channel,private_channel',
    exclude_archived: true,
  })) {
    for (const channel of page.channels) left.push(channel.name);
  }
  console.log(`LISTED AFTER ARCHIVE ${left.join(' ')}`);
  console.log(`RESULT ok=true room=${room}`);
  process.exit(0);
} catch (error) {
  console.error(`FAILED ${error?.data?.error ?? ''} ${error?.stack ?? error}`);
  process.exit(1);
}
