// The binary protocol's STAT: the groups memcached 1.6.18's process_bin_stat answers, rendered
// from the same MemcacheService functions (and so the same stat tables) as the text `stats`. One
// response per statistic (key = name, value = value), then an empty one. Not a hot path.
import Platform

extension MemcacheConnection {
    /// memcached matches `reset`, `settings` and `detail` as prefixes of the key (strncmp), and
    /// the get_stats groups (`items`, `slabs`, `sizes`, `sizes_enable`, `sizes_disable`) exactly;
    /// anything else, `conns` included (memcached's binary STAT has no conns), is "Not found".
    func binaryStat(_ h: BinaryHeader, _ key: UnsafeRawBufferPointer, _ output: OutputBuffer) {
        func starts(_ word: String) -> Bool { key.starts(with: word.utf8) }
        func equals(_ word: String) -> Bool { key.elementsEqual(word.utf8) }
        let lines: [(String, String)]
        if key.isEmpty {
            lines = service.generalStats()
        } else if starts("reset") {
            service.resetStats()
            lines = []
        } else if starts("settings") {
            lines = service.sources.settings()
        } else if starts("detail") {
            let rest = UnsafeRawBufferPointer(rebasing: key[6...])
            if rest.starts(with: " dump".utf8) {
                lines = [("detailed", service.prefixStats.dump())]
            } else if rest.starts(with: " on".utf8) {
                service.prefixStats.enabled.store(true, ordering: .relaxed)
                lines = []
            } else if rest.starts(with: " off".utf8) {
                service.prefixStats.enabled.store(false, ordering: .relaxed)
                lines = []
            } else {
                binaryError(h, BinaryStatus.keyNotFound, output)
                return
            }
        } else if equals("items") {
            lines = service.itemsStats()
        } else if equals("slabs") {
            lines = service.slabsStats()
        } else if equals("sizes") {
            lines = service.sizesStats()
        } else if equals("sizes_enable") || equals("sizes_disable") {
            // memcached answers these with the one statistic and no empty response (the text
            // protocol's reply has no END either).
            let (name, value) = service.setSizesTracking(equals("sizes_enable"))
            binaryStatResponse(h, name, value, output)
            return
        } else {
            binaryError(h, BinaryStatus.keyNotFound, output)
            return
        }
        for (name, value) in lines { binaryStatResponse(h, name, value, output) }
        binaryResponse(h, BinaryStatus.ok, output)
    }

    private func binaryStatResponse(_ h: BinaryHeader, _ name: String, _ value: String, _ output: OutputBuffer) {
        binaryResponse(h, BinaryStatus.ok, keyLength: name.utf8.count, bodyLength: name.utf8.count + value.utf8.count, output)
        output.append(name)
        output.append(value)
    }
}
