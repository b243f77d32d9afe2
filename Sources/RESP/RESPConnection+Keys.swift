// Key commands of the Redis port over the cache's items: DEL UNLINK EXISTS.
import CacheEngine
import Platform

extension RESPConnection {
    static let keyCommands: [RESPCommand] = [
        RESPCommand("del", arity: -2, keys: (1, -1, 1)) { c, out in c.delete(out) },
        // Deleting an item frees it at once here, so UNLINK is DEL.
        RESPCommand("unlink", arity: -2, keys: (1, -1, 1)) { c, out in c.delete(out) },
        RESPCommand("exists", arity: -2, keys: (1, -1, 1)) { c, out in
            // redis counts a key named twice twice.
            var n: Int64 = 0
            for i in 1..<c.argumentCount {
                if let it = c.lookup(c.argument(i)) {
                    n += 1
                    c.engine.release(it)
                }
            }
            out.appendRESPInteger(n)
            return .proceed
        },
    ]

    private func delete(_ out: OutputBuffer) -> HandlerAction {
        var n: Int64 = 0
        for i in 1..<argumentCount {
            let key = argument(i)
            guard key.count <= ItemLayout.maxKeyLength else { continue }
            if engine.delete(key, hash: CacheEngine.hash(key)) { n += 1 }
        }
        out.appendRESPInteger(n)
        return .proceed
    }
}
