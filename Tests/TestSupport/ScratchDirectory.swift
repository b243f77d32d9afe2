// A scratch directory for the tests that write files (journals, record files, data directories):
// one copy for BrokerTests, BrokerProtocolTests and DurabilityTests.
#if canImport(Glibc)
import Glibc
#endif

/// A fresh directory under /tmp, removed with what it holds (files, and directories left empty)
/// by `remove()`.
public struct ScratchDirectory: Sendable {
    public let path: String

    public init() {
        var template = Array("/tmp/swiftcached-test-XXXXXX".utf8CString)
        path = template.withUnsafeMutableBufferPointer { String(cString: mkdtemp($0.baseAddress!)) }
    }

    /// The path of `name` inside the directory.
    public func file(_ name: String) -> String { path + "/" + name }

    public func remove() {
        if let d = opendir(path) {
            while let e = readdir(d) {
                let name = withUnsafeBytes(of: e.pointee.d_name) { String(cString: $0.baseAddress!.assumingMemoryBound(to: CChar.self)) }
                if name != "." && name != ".." {
                    unlink(file(name))
                    rmdir(file(name))
                }
            }
            closedir(d)
        }
        rmdir(path)
    }
}
