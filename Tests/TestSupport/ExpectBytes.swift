// A byte-array comparison for tests of large values (CacheEngineTests, MemcacheProtocolTests):
// a failure names the sizes and the first differing byte instead of printing megabytes.
import Testing

/// Compares byte arrays without printing megabytes on failure.
public func expectBytes(_ got: [UInt8]?, _ want: [UInt8], _ what: String = "value",
                        sourceLocation: SourceLocation = #_sourceLocation) {
    guard let got else {
        Issue.record("\(what): nil, expected \(want.count) bytes", sourceLocation: sourceLocation)
        return
    }
    if got != want {
        let i = zip(got, want).enumerated().first { $0.element.0 != $0.element.1 }?.offset ?? min(got.count, want.count)
        Issue.record("\(what): \(got.count) bytes, expected \(want.count); first difference at byte \(i)",
                     sourceLocation: sourceLocation)
    }
}
