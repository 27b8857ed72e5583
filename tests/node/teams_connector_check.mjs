// Runs Microsoft's own Bot Framework connector client (botframework-connector, the one botbuilder
// bots reply through) against the fake Teams connector (tests/support/fake_teams.h).
// Usage: node teams_connector_check.mjs <service_url> <bearer_token> <conversation_id>
// Posts a message, replies to it in its thread, updates the first in place, deletes the reply,
// and expects a 404 for an unknown activity. Each step prints one line ("POSTED <id>", ...); the
// last is "RESULT ok". The fake answers the first call 429 with Retry-After, which the client's
// own throttling policy must honour. Any failure exits non-zero.
import { ConnectorClient } from 'botframework-connector';

const [serviceUrl, token, conversationId] = process.argv.slice(2);
if (!serviceUrl || !token || !conversationId) {
  console.error('usage: node teams_connector_check.mjs <service_url> <bearer_token> <conversation_id>');
  process.exit(64);
}
setTimeout(() => {
  console.error('TIMEOUT');
  process.exit(2);
}, 60000).unref();

// The app's token, as MicrosoftAppCredentials would attach it once fetched.
const credentials = {
  async signRequest(request) {
    request.headers.set('Authorization', `Bearer ${token}`);
    return request;
  },
};

const card = (text) => ({
  contentType: 'application/vnd.microsoft.card.adaptive',
  content: { type: 'AdaptiveCard', version: '1.4', body: [{ type: 'TextBlock', text }] },
});

try {
  const client = new ConnectorClient(credentials, { baseUri: serviceUrl });
  const posted = await client.conversations.sendToConversation(conversationId, {
    type: 'message',
    attachments: [card('Deploying hello v2')],
  });
  console.log(`POSTED ${posted.id}`);
  const reply = await client.conversations.replyToActivity(conversationId, posted.id, {
    type: 'message',
    text: 'details',
    replyToId: posted.id,
  });
  console.log(`REPLIED ${reply.id} TO ${posted.id}`);
  const updated = await client.conversations.updateActivity(conversationId, posted.id, {
    type: 'message',
    id: posted.id,
    attachments: [card('Deployed hello v2')],
  });
  console.log(`UPDATED ${updated.id}`);
  await client.conversations.deleteActivity(conversationId, reply.id);
  console.log(`DELETED ${reply.id}`);
  try {
    await client.conversations.deleteActivity(conversationId, 'no-such-activity');
    console.log('UNEXPECTED delete of an unknown activity succeeded');
    process.exit(1);
  } catch (error) {
    console.log(`MISSING status=${error.statusCode}`);
  }
  console.log('RESULT ok');
  process.exit(0);
} catch (error) {
  console.error(`FAILED ${error.statusCode ?? ''} ${error.message}`);
  process.exit(1);
}
