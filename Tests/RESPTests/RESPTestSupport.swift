// What the in-process RESP tests share: a request sent as a multibulk to a connection's handler,
// and the replies it wrote read back out of its output buffer.
import Platform
@testable import RESP
#if canImport(Glibc)
import Glibc
#endif

/// Everything `output` holds, as text, leaving it empty.
func drainRESP(_ output: OutputBuffer) -> String {
    var reply: [UInt8] = []
    let iov = UnsafeMutablePointer<iovec>.allocate(capacity: 16)
    defer { iov.deallocate() }
    while !output.isEmpty {
        let n = output.fill(iov, capacity: 16)
        var total = 0
        for i in 0..<n {
            reply.append(contentsOf: UnsafeRawBufferPointer(start: iov[i].iov_base, count: iov[i].iov_len))
            total += iov[i].iov_len
        }
        output.consume(total)
    }
    return String(decoding: reply, as: UTF8.self)
}

/// `words` sent to `handler` as one multibulk request; the replies it wrote.
func sendRESP(_ handler: ConnectionHandler, _ output: OutputBuffer, _ words: [String]) -> String {
    var s = "*\(words.count)\r\n"
    for w in words { s += "$\(w.utf8.count)\r\n\(w)\r\n" }
    _ = Array(s.utf8).withUnsafeBytes { handler.process($0, output: output) }
    return drainRESP(output)
}
