// RESP replies in both protocol versions: the RESP3 types and how RESP2 degrades them, as
// redis-server 7.0 writes them.
import Platform
import RESP
import Testing
#if canImport(Glibc)
import Glibc
#endif

private func written(_ body: (OutputBuffer) -> Void) -> String {
    let out = OutputBuffer()
    body(out)
    var bytes: [UInt8] = []
    out.drain { bytes += $0 }
    return String(decoding: bytes, as: UTF8.self)
}

@Suite("RESP replies")
struct RESPWriterTests {
    @Test func scalars() {
        #expect(written { $0.appendRESPOK() } == "+OK\r\n")
        #expect(written { $0.appendRESPSimple("PONG") } == "+PONG\r\n")
        #expect(written { $0.appendRESPError("ERR syntax error") } == "-ERR syntax error\r\n")
        #expect(written { $0.appendRESPError("ERR unknown command 'x\r\ny'") } == "-ERR unknown command 'x  y'\r\n")
        #expect(written { $0.appendRESPInteger(0) } == ":0\r\n")
        #expect(written { $0.appendRESPInteger(-42) } == ":-42\r\n")
        #expect(written { $0.appendRESPInteger(Int64.min) } == ":-9223372036854775808\r\n")
        // The length line is composed on the stack: its widest forms.
        #expect(written { $0.appendRESPInteger(Int64.max) } == ":9223372036854775807\r\n")
        #expect(written { $0.appendRESPInteger(-9) } == ":-9\r\n")
        #expect(written { $0.appendRESPBulkHeader(Int.max) } == "$9223372036854775807\r\n")
        #expect(written { $0.appendRESPArrayHeader(10) } == "*10\r\n")
        #expect(written { $0.appendRESPBulk("hello") } == "$5\r\nhello\r\n")
        #expect(written { $0.appendRESPBulk("") } == "$0\r\n\r\n")
        #expect(written { $0.appendRESPBulk(decimal: -120) } == "$4\r\n-120\r\n")
        #expect(written { $0.appendRESPBulk(decimal: 7) } == "$1\r\n7\r\n")
    }

    @Test func nullsByVersion() {
        #expect(written { $0.appendRESPNull(.resp2) } == "$-1\r\n")
        #expect(written { $0.appendRESPNull(.resp3) } == "_\r\n")
        #expect(written { $0.appendRESPNullArray(.resp2) } == "*-1\r\n")
        #expect(written { $0.appendRESPNullArray(.resp3) } == "_\r\n")
    }

    @Test func aggregatesByVersion() {
        #expect(written { $0.appendRESPArrayHeader(3) } == "*3\r\n")
        #expect(written { $0.appendRESPMapHeader(2, .resp3) } == "%2\r\n")
        #expect(written { $0.appendRESPMapHeader(2, .resp2) } == "*4\r\n")
        #expect(written { $0.appendRESPSetHeader(5, .resp3) } == "~5\r\n")
        #expect(written { $0.appendRESPSetHeader(5, .resp2) } == "*5\r\n")
        #expect(written { $0.appendRESPPushHeader(3, .resp3) } == ">3\r\n")
        #expect(written { $0.appendRESPPushHeader(3, .resp2) } == "*3\r\n")
    }

    @Test func booleansAndDoubles() {
        #expect(written { $0.appendRESPBoolean(true, .resp3) } == "#t\r\n")
        #expect(written { $0.appendRESPBoolean(false, .resp2) } == ":0\r\n")
        #expect(written { $0.appendRESPDouble(1.5, .resp3) } == ",1.5\r\n")
        #expect(written { $0.appendRESPDouble(1.5, .resp2) } == "$3\r\n1.5\r\n")
        #expect(written { $0.appendRESPDouble(0.1, .resp2) } == "$19\r\n0.10000000000000001\r\n")
        #expect(written { $0.appendRESPDouble(-.infinity, .resp3) } == ",-inf\r\n")
        #expect(written { $0.appendRESPDouble(.infinity, .resp2) } == "$3\r\ninf\r\n")
        #expect(written { $0.appendRESPDouble(1e300, .resp3) } == ",1.0000000000000001e+300\r\n")
    }

    @Test func verbatim() {
        let text = Array("# Server\r\n".utf8)
        text.withUnsafeBytes { t in
            #expect(written { $0.appendRESPVerbatim(t, .resp3) } == "=14\r\ntxt:# Server\r\n\r\n")
            #expect(written { $0.appendRESPVerbatim(t, .resp2) } == "$10\r\n# Server\r\n\r\n")
        }
    }
}
