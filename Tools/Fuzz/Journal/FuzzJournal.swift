// libFuzzer target: bytes from the fuzzer are the files of a broker's data directory, and a broker
// is started on them: broker.meta is parsed, the journal replayed (Durability's RecordReader
// through its window and resynchronisation, Broker's JournalReplay, damage copies, the snapshot
// rewrite), bodies that do not fit the memory share spilled to the spill file, then read back by
// a connection that takes every message. A spill file is not an input: recovery deletes the one
// it finds (the journal holds every body) and writes a new one.
//
// Input: byte 0 = options (bit 0: patch each frame's CRC-32C so that the payload decoders see
// records that pass the CRC; bit 1: an 8 KB memory share instead of 1 MB, so that most bodies
// spill; bit 2: also keep the journal as `r`'s, a second queue; bit 3: also keep it as the first
// segment of topic `t`'s partition 0, so that the log recovery (LogPartition+Recovery.swift)
// checks and cuts it and a group reads what it kept), byte 1 = length of broker.meta,
// then broker.meta, then queue `q`'s journal. Each input gets an emptied directory (one for the
// run, under /dev/shm: memory, and `--fsync=never`) and a new broker on one engine for the run
// (making an engine costs more than the rest of an input). After each input every queue is
// deleted and the engine must have no chunk in use: a body recovery took and did not give back
// (on any path, a refusal included) is a finding.
// Built only with SWIFTCACHED_FUZZ=1 (Tools/fuzz.sh), with -sanitize=fuzzer.
import Broker
import BrokerProtocol
import CacheEngine
import Durability
import FuzzSupport
import MemcacheProtocol
import Platform
#if canImport(Glibc)
import Glibc
#endif

let base = fuzzTemporaryDirectory("journal")
let dir = base + "/d"
let engine = makeFuzzEngine()

/// Chunks in use in every slab class.
func chunksInUse() -> Int {
    (1...engine.largestSlabClass).reduce(0) { $0 + engine.slabClassStats($1).usedChunks }
}

/// What the connection sends once recovery is done: opens, confirms and plain reads of both
/// queues (bounded: what is left goes with the queue's deletion).
let script: [UInt8] = Array(("get q/open\r\nget q/close/open\r\nget q/abort\r\ngets q/peek\r\n"
    + String(repeating: "get q\r\nget r/open\r\n", count: 16) + "ack r 1 2 3\r\nstats\r\n"
    + "gets t/group=g/max=1000\r\nseek t group=g time=0\r\nget t/group=g/partition=0/max=3\r\n"
    + "set t/key=k 1 0 3\r\nabc\r\nget t/group=h/max=1000\r\nstats logs\r\n").utf8)

/// Topic `t`'s files: one partition, small segments, `segment` as its first segment.
func writeLog(_ segment: UnsafeRawBufferPointer) {
    let topic = dir + "/logs/t"
    for d in [dir + "/logs", topic, topic + "/0"] { mkdir(d, 0o755) }
    Array("partitions=1 segment_bytes=4096 retention_ms=-1\n".utf8).withUnsafeBytes { write($0, to: topic + "/topic.meta") }
    write(segment, to: topic + "/0/00000000000000000000.log")
}

/// Removes the logs' directory tree.
func removeLogs() {
    let topic = dir + "/logs/t"
    removeFiles(in: topic + "/0", andDirectory: true)
    removeFiles(in: topic, andDirectory: true)
    removeFiles(in: dir + "/logs", andDirectory: true)
}

/// Writes `bytes` to `path` (the directory is ours: a failure is the harness's).
func write(_ bytes: UnsafeRawBufferPointer, to path: String) {
    let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
    precondition(fd >= 0, "cannot create \(path)")
    precondition(bytes.isEmpty || Glibc.write(fd, bytes.baseAddress, bytes.count) == bytes.count, "short write to \(path)")
    close(fd)
}

/// Sets the CRC-32C of every whole frame `[length][crc][payload]` from the start of `journal`.
func patchChecksums(_ journal: UnsafeMutableRawBufferPointer) {
    var pos = 0
    while pos + 8 <= journal.count {
        let length = Int(UInt32(littleEndian: journal.loadUnaligned(fromByteOffset: pos, as: UInt32.self)))
        guard length <= journal.count - pos - 8 else { return }
        let crc = CRC32C.checksum(UnsafeRawBufferPointer(rebasing: journal[(pos + 8)..<(pos + 8 + length)]))
        journal.storeBytes(of: crc.littleEndian, toByteOffset: pos + 4, as: UInt32.self)
        pos += 8 + length
    }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let input = UnsafeRawBufferPointer(start: data, count: size)
    guard input.count >= 2 else { return 0 }
    let flags = input[0]
    let metaLength = min(Int(input[1]), input.count - 2)
    let meta = UnsafeRawBufferPointer(rebasing: input[2..<(2 + metaLength)])
    let journal = UnsafeMutableRawBufferPointer.allocate(byteCount: input.count - 2 - metaLength, alignment: 8)
    defer { journal.deallocate() }
    journal.copyMemory(from: UnsafeRawBufferPointer(rebasing: input[(2 + metaLength)...]))
    if flags & 1 != 0 { patchChecksums(journal) }

    // One directory for the run, emptied after each input (recovery's copies, spill files and
    // temporaries included), rather than made and removed each time.
    defer { removeFiles(in: dir) }
    if !meta.isEmpty { write(meta, to: dir + "/broker.meta") }
    write(UnsafeRawBufferPointer(journal), to: dir + "/q.journal")
    if flags & 4 != 0 { write(UnsafeRawBufferPointer(journal), to: dir + "/r.journal") }
    if flags & 8 != 0 { writeLog(UnsafeRawBufferPointer(journal)) }
    // After the broker is gone (defers run last first): the logs' tree, then the files.
    defer { removeLogs() }

    var settings = BrokerSettings()
    settings.dataDirectory = dir
    settings.memoryLimit = flags & 2 != 0 ? 8 << 10 : 1 << 20
    settings.fsync = .never
    settings.prefetch = 2
    // A refusal (a read error, a message that needs a larger -I, bodies with nowhere to go, a
    // damaged stretch that cannot be copied) is an answer too; a crash or a leak is a finding.
    if let broker = try? Broker(engine: engine, settings: settings) {
        let service = BrokerService(broker: broker, settings: ProtocolSettings())
        script.withUnsafeBytes { runConnection($0, factory: service) }
        for name in broker.queueNames { _ = broker.deleteQueue(name) }
    }
    let leaked = chunksInUse()
    precondition(leaked == 0, "\(leaked) chunks still in use after the broker's queues were deleted")
    return 0
}

@_cdecl("FuzzJournal_main")
public func fuzzMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    // libFuzzer ends a bounded run with exit(): the directory goes then.
    mkdir(dir, 0o755)
    atexit { removeFiles(in: dir, andDirectory: true); rmdir(base) }
    return runFuzzer(argc, argv) { data, size in fuzzOneInput(data, size) }
}
