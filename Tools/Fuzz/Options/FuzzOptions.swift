// libFuzzer target: bytes from the fuzzer are a command line (arguments separated by NUL bytes,
// after "swiftcached"), parsed by the swiftcached executable's own parser: the sources of
// OptionTable, SubOptionTable, Options and what they use are compiled into this target through
// symlinks to Sources/swiftcached, so what is fuzzed is the code the server runs. A command line
// the parser accepts is then shown as `stats settings` shows it. Built only with
// SWIFTCACHED_FUZZ=1 (Tools/fuzz.sh), with -sanitize=fuzzer; run with -close_fd_mask=3, since
// refusals and -h go to stderr and stdout.
import CacheEngine
import FuzzSupport

/// Arguments per input: more than any real command line, few enough that each input stays fast.
let maxArguments = 64

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let input = UnsafeRawBufferPointer(start: data, count: size)
    var arguments = ["swiftcached"]
    for piece in input.split(separator: 0, maxSplits: maxArguments, omittingEmptySubsequences: false) {
        arguments.append(String(decoding: piece, as: UTF8.self))
    }
    if case .run(let options) = parseOptions(arguments) {
        let lines = settingsStats(options, tuning: LRUTuning(options.engine), automove: 0, detailEnabled: false,
                                  oldest: 0, crawler: CrawlerControl())
        precondition(!lines.isEmpty)
    }
    return 0
}

@_cdecl("FuzzOptions_main")
public func fuzzMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    runFuzzer(argc, argv) { data, size in fuzzOneInput(data, size) }
}
