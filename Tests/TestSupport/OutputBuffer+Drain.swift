// What the in-process test targets share: the reply bytes a handler wrote, taken out of its
// OutputBuffer the way the server's writer takes them (fill → copy → consume), so the item
// references a reply held are released as after a real write. One copy for every test target
// that drives a handler (MemcacheProtocolTests, BrokerProtocolTests, RESPTests, PlatformTests).
import Platform
#if canImport(Glibc)
import Glibc
#endif

/// Every pending byte of `output`, taken out of it (marked written, references released).
public func drainBytes(_ output: OutputBuffer) -> [UInt8] {
    var bytes: [UInt8] = []
    let capacity = 16
    let iov = UnsafeMutablePointer<iovec>.allocate(capacity: capacity)
    defer { iov.deallocate() }
    while !output.isEmpty {
        let n = output.fill(iov, capacity: capacity)
        var total = 0
        for i in 0..<n {
            bytes.append(contentsOf: UnsafeRawBufferPointer(start: iov[i].iov_base, count: iov[i].iov_len))
            total += iov[i].iov_len
        }
        output.consume(total)
    }
    return bytes
}

/// Every pending byte of `output` as text, taken out of it.
public func drainText(_ output: OutputBuffer) -> String {
    String(decoding: drainBytes(output), as: UTF8.self)
}
