// The batch append on the broker port:
//   produce <topic>[/key=<k>][/partition=<p>] <flags> <count> <bytes> [noreply]\r\n
//   <block of <bytes> bytes>\r\n
// where the block is <count> records, each `<length>\r\n<data>\r\n`, appended as one batch (one
// frame, one CRC-32C) to one partition (given, the key's, or round-robin) and acknowledged with
// `PRODUCED <partition> <first offset> <count>`. The block is read into an item as a `set`'s value
// is (so -I bounds it), gathered when chunked, then parsed whole before anything is appended: a
// malformed block appends nothing. The batch read is `get <topic>/group=<g>/max=<n>`.
import Broker
import CacheEngine
import MemcacheProtocol
import Platform

extension BrokerConnection {
    /// Records one `produce` may carry.
    static let maxBatchRecords = 100_000

    static let badBatch: StaticString = "CLIENT_ERROR bad batch format\r\n"

    /// Five or six tokens (BrokerConnection+Commands.swift).
    func processProduce(_ input: UnsafeRawBufferPointer, _ tokens: Tokens, _ output: OutputBuffer) -> HandlerAction {
        let noreply = tokens.count == 6 && TextParser.equals(input, tokens[5], "noreply")
        let keyToken = tokens[1]
        let key = UnsafeRawBufferPointer(rebasing: input[keyToken.start..<keyToken.start + keyToken.count])
        let length = TextParser.parseInt32(input, tokens[4])
        let swallow = { if let length, length >= 0 { self.swallowRemaining = Int(length) + 2 } }
        guard let spec = LogKey(key), spec.isProducerKey,
              let flags = TextParser.parseUnsigned(input, tokens[2], max: UInt64(UInt32.max)),
              let count = TextParser.parseUnsigned(input, tokens[3], max: UInt64(Self.maxBatchRecords)), count >= 1,
              let length, length >= 0, length <= Int32.max - 2
        else {
            if !noreply { output.append(Reply.badFormat) }
            swallow()
            return .proceed
        }
        guard let topic = logTopic(Self.namePart(key)) else {
            if !noreply { output.append(LogReply.notTopic) }
            swallow()
            return .proceed
        }
        if let p = spec.partition, p >= topic.partitions.count {
            if !noreply { output.append(LogReply.badPartition) }
            swallow()
            return .proceed
        }
        if spec.key == nil && topic.isCompacted {
            broker.logs.memory.keylessRefused.wrappingAdd(1, ordering: .relaxed)
            if !noreply { output.append(LogReply.needsKey) }
            swallow()
            return .proceed
        }
        logKey.removeAll(keepingCapacity: true)
        if let k = spec.key { logKey.append(contentsOf: UnsafeRawBufferPointer(rebasing: key[k])) }
        return beginMessage(flags: UInt32(flags), exptime: 0, length: Int(length), noreply: noreply,
                            target: .logBatch(topic, partition: spec.partition, keyed: spec.key != nil, count: Int(count)), output)
    }

    /// The block is in: parses it and appends the batch.
    func finishProduce(_ topic: LogTopic, partition: Int?, keyed: Bool, count: Int, item: Item, noreply: Bool,
                       _ output: OutputBuffer) {
        defer { engine.release(item) }
        let outcome: Broker.LogAppendOutcome? = withBlock(item) { block in
            guard Self.parseBatch(block, count: count, into: &batchRanges) else { return nil }
            return logKey.withUnsafeBytes { k in
                session.appendLogBatch(topic, partition: partition, key: keyed ? k : nil, flags: item.clientFlags,
                                       block: block, values: batchRanges)
            }
        }
        guard !noreply else { return }
        switch outcome {
        case nil: output.append(Self.badBatch)
        case .appended(let p, let offset)?: output.append("PRODUCED \(p) \(offset) \(count)\r\n")
        case .badPartition?: output.append(LogReply.badPartition)
        case .outOfMemory?: output.append(LogReply.outOfMemory)
        case .notWritable?: output.append(LogReply.notWritable)
        }
    }

    /// The item's value as one buffer (a chunked value is gathered into the connection's scratch).
    private func withBlock<R>(_ item: Item, _ body: (UnsafeRawBufferPointer) -> R) -> R {
        if engine.valueSegmentCount(item) == 1 { return body(UnsafeRawBufferPointer(engine.valueSegment(item, 0))) }
        batchScratch.removeAll(keepingCapacity: true)
        for i in 0..<engine.valueSegmentCount(item) { batchScratch.append(contentsOf: UnsafeRawBufferPointer(engine.valueSegment(item, i))) }
        return batchScratch.withUnsafeBytes(body)
    }

    /// Splits `block` into exactly `count` records `<length>\r\n<data>\r\n` filling it; false if
    /// it does not.
    static func parseBatch(_ block: UnsafeRawBufferPointer, count: Int, into ranges: inout [Range<Int>]) -> Bool {
        ranges.removeAll(keepingCapacity: true)
        var at = 0
        let n = block.count
        while at < n {
            guard ranges.count < count else { return false }
            var length = 0, digits = 0
            while at < n, block[at] >= 0x30, block[at] <= 0x39, digits < 10 {
                length = length * 10 + Int(block[at] - 0x30)
                digits += 1
                at += 1
            }
            guard digits > 0, at + 2 <= n, block[at] == 0x0d, block[at + 1] == 0x0a else { return false }
            at += 2
            guard length <= n - at - 2, block[at + length] == 0x0d, block[at + length + 1] == 0x0a else { return false }
            ranges.append(at..<at + length)
            at += length + 2
        }
        return ranges.count == count
    }
}
