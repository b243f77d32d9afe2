// libFuzzer target: bytes from the fuzzer are one client's stream to the broker port's handler
// (Kestrel verbs with their slash options, queue declarations, exchanges, bindings, publish, acks),
// on an in-process broker and engine. The first byte's low bit picks the broker: one in memory,
// one with a data directory (journals, meta, spill files in a temporary directory, written by the
// flusher thread). After each input every queue and exchange is deleted, so that inputs do not
// depend on each other and the journals stay small; the in-memory broker's engine must then have
// no chunk in use (a message body whose reference was lost is a finding; the other broker's
// flusher may hold bodies for a moment while it compacts). Built only with SWIFTCACHED_FUZZ=1
// (Tools/fuzz.sh), with -sanitize=fuzzer.
import Broker
import BrokerProtocol
import CacheEngine
import FuzzSupport
import MemcacheProtocol
import Platform
#if canImport(Glibc)
import Glibc
#endif

/// A broker and the handler factory of its port; made once for the run, immutable after.
struct FuzzBrokerPort: Sendable {
    let broker: Broker
    let service: BrokerService

    init(dataDirectory: String?) {
        var settings = BrokerSettings()
        settings.dataDirectory = dataDirectory
        // Small, so that the memory share is exhausted (read-behind into the spill file) and
        // journals are compacted within one input.
        settings.memoryLimit = 1 << 20
        settings.compactMinBytes = 64 << 10
        settings.fsync = .never
        settings.prefetch = 4
        settings.visibilityTimeoutMs = 50
        do {
            broker = try Broker(engine: makeFuzzEngine(), settings: settings)
        } catch {
            fatalError("the fuzz target's broker cannot start: \(error)")
        }
        broker.start()
        service = BrokerService(broker: broker, settings: ProtocolSettings())
    }

    /// Back to an empty broker: every queue (its messages, journal and spill file) and exchange.
    func reset() {
        for name in broker.queueNames { _ = broker.deleteQueue(name) }
        for name in broker.exchangeNames where name != Broker.defaultExchange { _ = broker.deleteExchange(name) }
    }

    /// Chunks in use in every slab class of the broker's engine.
    var chunksInUse: Int {
        (1...broker.engine.largestSlabClass).reduce(0) { $0 + broker.engine.slabClassStats($1).usedChunks }
    }
}

let memoryPort = FuzzBrokerPort(dataDirectory: nil)
let dataDirectory = fuzzTemporaryDirectory("broker")
let diskPort = FuzzBrokerPort(dataDirectory: dataDirectory)

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let input = UnsafeRawBufferPointer(start: data, count: size)
    let port = (input.first ?? 0) & 1 == 0 ? memoryPort : diskPort
    runConnection(input, factory: port.service)
    port.reset()
    if port.broker.settings.dataDirectory == nil {
        let leaked = port.chunksInUse
        precondition(leaked == 0, "\(leaked) chunks still in use after every queue was deleted")
    }
    return 0
}

@_cdecl("FuzzBroker_main")
public func fuzzMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    // libFuzzer ends a bounded run with exit(): the data directory goes then.
    atexit { removeFiles(in: dataDirectory, andDirectory: true) }
    return runFuzzer(argc, argv) { data, size in fuzzOneInput(data, size) }
}
