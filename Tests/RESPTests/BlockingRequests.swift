// The in-process blocking harness BlockedListTests and BlockedSortedSetTests share: a request
// sent on a peer connection of a `TransactionTests.Client` whose action (a park, for a blocking
// command) is what the test looks at, its reply left in the shared output until `drain`.
import Platform
@testable import RESP

extension TransactionTests.Client {
    /// Sends one multibulk request on `h` and returns its action (the reply stays in the output).
    func start(_ h: ConnectionHandler, _ words: [String]) -> HandlerAction {
        var bytes = Array("*\(words.count)\r\n".utf8)
        for w in words { bytes += Array("$\(w.utf8.count)\r\n\(w)\r\n".utf8) }
        return bytes.withUnsafeBytes { h.process($0, output: output) }.action
    }
}
