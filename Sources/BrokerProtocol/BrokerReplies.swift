// The broker port's own reply lines (the rest are memcached's, `Reply` in MemcacheProtocol).

import Broker

enum BrokerReply {
    static let badQueueName: StaticString = "CLIENT_ERROR bad queue name\r\n"
    static let blockingMultiGet: StaticString = "CLIENT_ERROR a blocking read names one queue\r\n"
    static let prefetchFull: StaticString = "CLIENT_ERROR too many open reads on this queue\r\n"
    static let tooManyQueueKeys: StaticString = "CLIENT_ERROR a queue read names at most 16 queues\r\n"
    static let routingKeyTooLong = "CLIENT_ERROR routing key too long \(keyBounds)\r\n"
    static let bindingKeyTooLong = "CLIENT_ERROR binding key too long \(keyBounds)\r\n"
    /// A new queue whose journal file cannot be created: not made, nothing stored.
    static let journalUnavailable: StaticString = "SERVER_ERROR cannot open the queue's journal\r\n"
    /// The journal cannot be written now (disk full, failing): the message was not kept, and
    /// sending it again later stores it once.
    static let journalFailing: StaticString = "SERVER_ERROR journal not writable; not stored\r\n"
    /// The same reasons as the bodies of binary-protocol errors.
    static let prefetchFullText: StaticString = "too many open reads on this queue"
    static let journalUnavailableText: StaticString = "cannot open the queue's journal"
    static let journalFailingText: StaticString = "journal not writable; not stored"
    private static let keyBounds = "(\(Broker.maxKeyBytes) bytes, \(Broker.maxTopicWords) words on topic exchanges)"
}
