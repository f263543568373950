// Package outbox is a transactional outbox: the application writes its business rows and the messages that
// announce them in one database transaction, and a [Relay] publishes the committed messages to a broker.
//
// Delivery is at least once; the message ID travels as the broker's de-duplication id (JetStream
// Nats-Msg-Id, a Kafka header), so with broker-side de-duplication a message arrives effectively once, and
// [Inbox] removes what is left on the consumer side.
//
// # Order
//
// Messages with the same Key reach the broker in the order their transactions committed, even with several
// relays: keys hash into partitions ([Partition]), each partition is leased to one relay at a time with an
// expiry and a fencing epoch, and a relay publishes a partition in commit order. Relays share the
// partitions fairly, so throughput grows with relays as long as keys differ. Within a batch, the relay sends
// at most one message per key in each [Publisher] call and sends the next message of a key only after the
// previous one was acknowledged, so a failed message never lets a later one of its key through. While a
// full batch is being published the relay claims the next one, and uses it only if the whole batch was
// acknowledged and no key was held back, so claiming ahead never reorders a key.
//
// A batch publishes only while the leases it was claimed under hold: its [Publisher] context ends a fifth of
// the lease TTL before they expire, no wave starts after that, and the messages not acknowledged by then stay
// pending for whoever owns the partition next ([EventBatchCut]). So a broker slower than the lease cannot
// make a relay send a key's message after another relay took the partition over and sent the key's later
// ones; publishers must honour the context for this to hold. Running out of time is not a failed attempt,
// but a message that was in flight from the batch's start (its first wave) for at least 2/5 of the lease
// TTL without an acknowledgement is charged one, with an error wrapping [context.DeadlineExceeded], and
// retried, backed off and dead-lettered like any failed message: a message the broker never acknowledges
// cannot stay pending and block its key forever.
//
// # Delivery
//
// A message is deleted (or marked, with [WithRetention]) only after the broker acknowledged it, so nothing
// committed is lost; a relay that crashes between the acknowledgement and the completion leaves messages that
// the relay taking over its partitions sends again. Those duplicates carry the same ID, which the broker's
// de-duplication or the consumer's [Inbox] removes.
//
// A message that fails is retried with backoff while its key's later messages wait; after the maximum
// attempts it moves to the dead-letter table, and its key either stays parked until the dead letter is
// replayed or discarded ([ParkKey]) or continues ([SkipToNext]). Other keys keep flowing either way.
//
// # Stores and publishers
//
// Stores live in subpackages so that this package pulls in nothing heavy: outbox/pgstore (PostgreSQL
// through pgx, woken by LISTEN/NOTIFY), outbox/sqlitestore (pure-Go SQLite) and outbox/mysqlstore (MySQL 8,
// MariaDB 10.6+). Publishers: outbox/natspub
// (NATS JetStream), outbox/kafkapub (Kafka through franz-go), and [PublisherFunc] for tests and custom brokers.
package outbox
