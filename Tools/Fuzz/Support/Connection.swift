// What the fuzz targets share: their engine, and driving one connection handler over an input as
// the server would (the input arriving in two reads, split where its first byte says; again after
// a yield; every piece of a streamed reply taken; a park resumed by its timeout before any more
// input; stop at a close), then closing the connection.
import CacheEngine
import Platform

/// The engine a fuzz target's connections share: small (16 MB), so eviction and page moves are
/// reached quickly.
public func makeFuzzEngine() -> CacheEngine {
    var settings = EngineSettings()
    settings.hashPowerInit = 12
    settings.memoryLimit = 16 * 1024 * 1024
    return CacheEngine(settings: settings)!
}

public func runConnection(_ input: UnsafeRawBufferPointer, factory: ConnectionHandlerFactory) {
    let output = OutputBuffer()
    let handler = factory.makeHandler(workerIndex: 0, fd: 99, output: output, waker: ConnectionWaker {})
    defer {
        handler.connectionClosed()
        output.reset()
    }
    // A split point taken from the data, so that requests cut short are exercised too.
    let split = input.isEmpty ? 0 : Int(input[0]) % (input.count + 1)
    var pending: [UInt8] = []
    for piece in [input[0..<split], input[split...]] {
        pending += piece
        var rounds = 0
        while !pending.isEmpty && rounds < 10_000 {
            rounds += 1
            var (consumed, action) = pending.withUnsafeBytes { handler.process($0, output: output) }
            precondition(consumed >= 0 && consumed <= pending.count, "consumed \(consumed) of \(pending.count)")
            pending.removeFirst(consumed)
            output.drain { _ in }
            var parks = 0
            actions: while true {
                switch action {
                case .stream:
                    action = handler.continueStream(output: output)
                case .park:
                    // As the server: no input is processed while parked. Its timer fires at once
                    // (a wake-up may have come first: the handler tells); still parked after a few
                    // timeouts, the client goes away.
                    parks += 1
                    if parks > 3 { return }
                    action = handler.resume(output: output, timedOut: true)
                default:
                    break actions
                }
                output.drain { _ in }
            }
            switch action {
            case .yield: continue
            case .close, .closeNow: return
            default: break
            }
            break
        }
    }
}

/// libFuzzer's driver: SwiftPM links an executable's entry point as `<Target>_main`, so each
/// target's entry point hands libFuzzer its callback (`LLVMFuzzerRunDriver`) instead of relying
/// on libFuzzer's own `main`.
@_silgen_name("LLVMFuzzerRunDriver")
func LLVMFuzzerRunDriver(_ argc: UnsafeMutablePointer<CInt>,
                         _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
                         _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt) -> CInt

public func runFuzzer(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?,
                      _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt) -> CInt {
    var argc = argc
    var argv = argv
    return LLVMFuzzerRunDriver(&argc, &argv, callback)
}
