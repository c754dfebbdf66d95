-- One row per MQTT message. The id is the Queue message's: a batch that is
-- retried after a failure inserts nothing twice (INSERT OR IGNORE).
CREATE TABLE messages (
  id TEXT PRIMARY KEY,
  namespace TEXT NOT NULL,
  client_id TEXT NOT NULL,
  topic TEXT NOT NULL,
  payload BLOB NOT NULL,
  qos INTEGER NOT NULL,
  retain INTEGER NOT NULL,
  received_at INTEGER NOT NULL
);
CREATE INDEX messages_by_topic ON messages (topic, received_at);
