// memcached's reply lines, byte for byte.

enum Reply {
    static let stored: StaticString = "STORED\r\n"
    static let notStored: StaticString = "NOT_STORED\r\n"
    static let exists: StaticString = "EXISTS\r\n"
    static let notFound: StaticString = "NOT_FOUND\r\n"
    static let deleted: StaticString = "DELETED\r\n"
    static let touched: StaticString = "TOUCHED\r\n"
    static let ok: StaticString = "OK\r\n"
    static let end: StaticString = "END\r\n"
    static let crlf: StaticString = "\r\n"
    static let value: StaticString = "VALUE "
    static let error: StaticString = "ERROR\r\n"
    static let badFormat: StaticString = "CLIENT_ERROR bad command line format\r\n"
    static let badDataChunk: StaticString = "CLIENT_ERROR bad data chunk\r\n"
    static let tooLarge: StaticString = "SERVER_ERROR object too large for cache\r\n"
    static let outOfMemory: StaticString = "SERVER_ERROR out of memory storing object\r\n"
    static let deltaOutOfMemory: StaticString = "SERVER_ERROR out of memory\r\n"
    static let invalidExptime: StaticString = "CLIENT_ERROR invalid exptime argument\r\n"
    static let invalidDelta: StaticString = "CLIENT_ERROR invalid numeric delta argument\r\n"
    static let nonNumeric: StaticString = "CLIENT_ERROR cannot increment or decrement non-numeric value\r\n"
    static let deleteUsage: StaticString = "CLIENT_ERROR bad command line format.  Usage: delete <key> [noreply]\r\n"
    static let flushDisabled: StaticString = "CLIENT_ERROR flush_all not allowed\r\n"
    static let shutdownDisabled: StaticString = "ERROR: shutdown not enabled\r\n"
}

extension Reply {
    static let getOverflow: StaticString = "SERVER_ERROR out of memory writing get response\r\n"
    static let badQueueName: StaticString = "CLIENT_ERROR bad queue name\r\n"
    static let blockingMultiGet: StaticString = "CLIENT_ERROR a blocking read names one queue\r\n"
    static let prefetchFull: StaticString = "CLIENT_ERROR too many open reads on this queue\r\n"
    static let tooManyQueueKeys: StaticString = "CLIENT_ERROR a queue read names at most 16 queues\r\n"
}
