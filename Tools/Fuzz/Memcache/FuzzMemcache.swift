// libFuzzer target: bytes from the fuzzer are one client's stream to the cache port's handler
// (text, meta and binary protocols, chosen by the first byte as on the real port), on an
// in-process engine. Built only with SWIFTCACHED_FUZZ=1 (Tools/fuzz.sh), with -sanitize=fuzzer.
import CacheEngine
import FuzzSupport
import MemcacheProtocol
import Platform

/// One engine for the whole run (immutable once made); each input is a new connection.
let engine = makeFuzzEngine()
let service = MemcacheService(engine: engine, settings: ProtocolSettings(), workers: 1)

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    runConnection(UnsafeRawBufferPointer(start: data, count: size), factory: service)
    return 0
}

@_cdecl("FuzzMemcache_main")
public func fuzzMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    runFuzzer(argc, argv) { data, size in fuzzOneInput(data, size) }
}
