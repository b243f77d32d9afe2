// What the in-process RESP tests share: a request sent as a multibulk to a connection's handler,
// and the replies it wrote read back out of its output buffer.
import Platform
@testable import RESP
import TestSupport
#if canImport(Glibc)
import Glibc
#endif

/// `words` as one multibulk request's bytes.
func multibulk(_ words: [String]) -> [UInt8] {
    var s = "*\(words.count)\r\n"
    for w in words { s += "$\(w.utf8.count)\r\n\(w)\r\n" }
    return Array(s.utf8)
}

/// `words` sent to `handler` as one multibulk request; the replies it wrote.
func sendRESP(_ handler: ConnectionHandler, _ output: OutputBuffer, _ words: [String]) -> String {
    _ = multibulk(words).withUnsafeBytes { handler.process($0, output: output) }
    return drainText(output)
}
