// Before a request of a pipelined read runs, the engine is told the keys of the two requests
// behind it (CacheEngine+KeyHints.swift: the operation that runs this request starts loading
// the next key's first item and the key after's bucket). Each request is peeked once: the one
// after next at this request's turn, its hash kept for the next turn. A read of one request
// peeks at an empty rest and names nothing.
import CacheEngine

extension RESPConnection {
    /// A key's hash for a hint; nil for a key no item can have (never hashed: it may be long).
    @inline(__always)
    static func hintHash(_ key: UnsafeRawBufferPointer) -> UInt32? {
        key.count <= ItemLayout.maxKeyLength ? CacheEngine.hash(key) : nil
    }

    @inline(__always)
    func hintNextKeys(_ input: UnsafeRawBufferPointer, after end: Int) {
        let next: UInt32
        let nextEnd: Int
        if peekedAt == end {
            next = peekedHash
            nextEnd = peekedEnd
        } else if let (key, e) = RESPRequestParser.peekKey(input, at: end), let h = Self.hintHash(key) {
            next = h
            nextEnd = e
        } else {
            peekedAt = -1
            CacheEngine.hintKeys(next: nil, after: nil)
            return
        }
        if let (key, e) = RESPRequestParser.peekKey(input, at: nextEnd), let h = Self.hintHash(key) {
            peekedAt = nextEnd
            peekedHash = h
            peekedEnd = e
            CacheEngine.hintKeys(next: next, after: peekedHash)
        } else {
            peekedAt = -1
            CacheEngine.hintKeys(next: next, after: nil)
        }
    }
}
