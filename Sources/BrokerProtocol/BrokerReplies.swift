// The broker port's own reply lines (the rest are memcached's, `Reply` in MemcacheProtocol).

enum BrokerReply {
    static let badQueueName: StaticString = "CLIENT_ERROR bad queue name\r\n"
    static let blockingMultiGet: StaticString = "CLIENT_ERROR a blocking read names one queue\r\n"
    static let prefetchFull: StaticString = "CLIENT_ERROR too many open reads on this queue\r\n"
    static let tooManyQueueKeys: StaticString = "CLIENT_ERROR a queue read names at most 16 queues\r\n"
}
