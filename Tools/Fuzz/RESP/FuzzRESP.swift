// libFuzzer target: bytes from the fuzzer are one client's stream to the Redis port's handler
// (RESP multibulk and inline requests, every command), on an in-process engine. Built only with
// SWIFTCACHED_FUZZ=1 (Tools/fuzz.sh), with -sanitize=fuzzer.
import CacheEngine
import FuzzSupport
import Platform
import RESP

/// One engine for the whole run (immutable once made); each input is a new connection.
let engine = makeFuzzEngine()
let service = RESPService(engine: engine, settings: RESPSettings(), workers: 1)

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    runConnection(UnsafeRawBufferPointer(start: data, count: size), factory: service)
    return 0
}

@_cdecl("FuzzRESP_main")
public func fuzzMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    runFuzzer(argc, argv) { data, size in fuzzOneInput(data, size) }
}
