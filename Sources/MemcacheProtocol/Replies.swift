// memcached's reply lines, byte for byte (those the broker port uses too are public).

/// Reply lines of memcached's text protocol, shared with the broker port.
public enum Reply {
    /// A store succeeded.
    public static let stored: StaticString = "STORED\r\n"
    /// A store was refused by its mode or the queue was full.
    public static let notStored: StaticString = "NOT_STORED\r\n"
    static let exists: StaticString = "EXISTS\r\n"
    /// No such key, queue or exchange.
    public static let notFound: StaticString = "NOT_FOUND\r\n"
    /// A delete succeeded.
    public static let deleted: StaticString = "DELETED\r\n"
    static let touched: StaticString = "TOUCHED\r\n"
    /// A command succeeded.
    public static let ok: StaticString = "OK\r\n"
    /// The end of a retrieval (or of `stats`).
    public static let end: StaticString = "END\r\n"
    /// The line end after a reply line or a value.
    public static let crlf: StaticString = "\r\n"
    /// The start of a retrieval's header line.
    public static let value: StaticString = "VALUE "
    /// An unknown or malformed command.
    public static let error: StaticString = "ERROR\r\n"
    /// A command line that does not parse.
    public static let badFormat: StaticString = "CLIENT_ERROR bad command line format\r\n"
    /// A data block not followed by `\\r\\n`.
    public static let badDataChunk: StaticString = "CLIENT_ERROR bad data chunk\r\n"
    /// A value larger than the largest item.
    public static let tooLarge: StaticString = "SERVER_ERROR object too large for cache\r\n"
    /// No memory for a value being stored.
    public static let outOfMemory: StaticString = "SERVER_ERROR out of memory storing object\r\n"
    /// No memory (the short form: incr/decr, and the broker's memory share).
    public static let deltaOutOfMemory: StaticString = "SERVER_ERROR out of memory\r\n"
    static let invalidExptime: StaticString = "CLIENT_ERROR invalid exptime argument\r\n"
    static let invalidDelta: StaticString = "CLIENT_ERROR invalid numeric delta argument\r\n"
    static let nonNumeric: StaticString = "CLIENT_ERROR cannot increment or decrement non-numeric value\r\n"
    /// A `delete` with the wrong number of arguments.
    public static let deleteUsage: StaticString = "CLIENT_ERROR bad command line format.  Usage: delete <key> [noreply]\r\n"
    static let flushDisabled: StaticString = "CLIENT_ERROR flush_all not allowed\r\n"
    static let shutdownDisabled: StaticString = "ERROR: shutdown not enabled\r\n"
}

extension Reply {
    static let getOverflow: StaticString = "SERVER_ERROR out of memory writing get response\r\n"
    /// memcached's reply when read_buf_mem_limit leaves no read buffer, before it closes.
    public static let readBufferOutOfMemory: StaticString = "SERVER_ERROR out of memory reading request\r\n"
}
