// The `compare --svg` chart: a plain SVG (no scripts, no external fonts or styles) with one cell
// per workload in two panels, ops/s and p99, bars grouped by server, each cell on its own scale
// (workloads differ by 10× in ops/s), every bar labelled with its value.

/// "1.29M", "143k", "950".
public func formatCompact(_ x: Double) -> String {
    if x >= 1e6 { return formatFixed(x / 1e6, x >= 1e7 ? 1 : 2) + "M" }
    if x >= 1e3 { return formatFixed(x / 1e3, x >= 1e5 ? 0 : 1) + "k" }
    return formatFixed(x, 0)
}

/// "1.05 ms" → "1.05ms", "640.2 µs" → "640µs".
func formatLatencyCompact(_ nanos: UInt64) -> String {
    if nanos >= 1_000_000 { return formatFixed(Double(nanos) / 1e6, nanos >= 10_000_000 ? 1 : 2) + "ms" }
    return formatFixed(Double(nanos) / 1e3, 0) + "µs"
}

func xmlEscape(_ s: String) -> String {
    var out = ""
    for ch in s {
        switch ch {
        case "&": out += "&amp;"
        case "<": out += "&lt;"
        case ">": out += "&gt;"
        case "\"": out += "&quot;"
        default: out.append(ch)
        }
    }
    return out
}

/// Greedy word wrap at `width` characters.
func wrapWords(_ s: String, width: Int) -> [String] {
    var lines: [String] = []
    var cur = ""
    for word in s.split(separator: " ") {
        if cur.isEmpty { cur = String(word) } else if cur.count + 1 + word.count <= width { cur += " " + word } else {
            lines.append(cur)
            cur = String(word)
        }
    }
    if !cur.isEmpty { lines.append(cur) }
    return lines
}

extension CompareReport {
    static let palette: [String: String] = [
        "swiftcached": "#F05138", "memcached": "#2F6DB5", "redis": "#8E44AD", "null": "#9E9E9E",
    ]
    static let fallbackColors = ["#27AE60", "#F39C12", "#16A085", "#7F8C8D"]

    func color(_ i: Int) -> String {
        Self.palette[servers[i]] ?? Self.fallbackColors[i % Self.fallbackColors.count]
    }

    /// The chart as an SVG document.
    public var svg: String {
        let rows = self.rows
        let s = servers.count
        let barW = 30.0, step = 35.0
        let cellW = max(170.0, Double(s) * step + 30)
        let left = 20.0, top = 92.0
        let barArea = 170.0, labelArea = 62.0, panelTitle = 26.0
        let panelH = panelTitle + barArea + labelArea
        let width = left * 2 + cellW * Double(max(rows.count, 1))
        let height = top + panelH * 2 + 20 + 44
        var o: [String] = []
        func f(_ x: Double) -> String { formatFixed(x, 1) }
        func text(_ x: Double, _ y: Double, _ t: String, size: Int = 11, anchor: String = "middle", weight: String = "normal",
                  fill: String = "#222") {
            o.append("<text x=\"\(f(x))\" y=\"\(f(y))\" font-size=\"\(size)\" text-anchor=\"\(anchor)\" font-weight=\"\(weight)\" fill=\"\(fill)\">\(xmlEscape(t))</text>")
        }
        o.append("<?xml version=\"1.0\" encoding=\"UTF-8\"?>")
        o.append("<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(Int(width))\" height=\"\(Int(height))\" viewBox=\"0 0 \(Int(width)) \(Int(height))\" font-family=\"Helvetica, Arial, sans-serif\">")
        o.append("<rect x=\"0\" y=\"0\" width=\"\(Int(width))\" height=\"\(Int(height))\" fill=\"#ffffff\"/>")
        text(width / 2, 26, "swiftcached-loadtest compare: medians of \(options.rounds) rounds × \(formatFixed(options.durationSeconds, 0)) s",
             size: 16, weight: "bold")
        let conns = options.workloads.first.map { $0.config.threads * $0.config.connsPerThread } ?? 0
        text(width / 2, 46, "\(machine); \(started); \(conns) connections, server threads \(options.serverThreads), -m \(options.memoryMB)",
             size: 11, fill: "#555")
        // Legend.
        var legendItems: [(String, String)] = []
        for i in 0..<s {
            let name = serverLabel(servers[i])
            let v = versions[servers[i]].map { $0.replacingPrefix("VERSION ", with: "").replacingPrefix("redis ", with: "") } ?? ""
            legendItems.append((color(i), v.isEmpty || v == "?" || servers[i] == "null" ? name : "\(name) \(v)"))
        }
        let itemW = legendItems.map { 34.0 + Double($0.1.count) * 7.2 }
        var lx = (width - itemW.reduce(0, +)) / 2
        for (k, item) in legendItems.enumerated() {
            o.append("<rect x=\"\(f(lx))\" y=\"60\" width=\"14\" height=\"14\" fill=\"\(item.0)\"/>")
            text(lx + 19, 71.5, item.1, size: 12, anchor: "start")
            lx += itemW[k]
        }

        func panel(y0: Double, title: String, values: (CompareReport.Row) -> [Double], label: (Double) -> String) {
            text(left, y0 + 17, title, size: 13, anchor: "start", weight: "bold")
            let baseY = y0 + panelTitle + barArea
            for (c, r) in rows.enumerated() {
                let x0 = left + Double(c) * cellW
                let vs = values(r)
                let maxV = max(vs.max() ?? 0, 1e-9)
                o.append("<rect x=\"\(f(x0 + 4))\" y=\"\(f(y0 + panelTitle))\" width=\"\(f(cellW - 8))\" height=\"\(f(barArea))\" fill=\"#F7F7F7\" stroke=\"#E0E0E0\"/>")
                let groupW = Double(s) * step - (step - barW)
                var bx = x0 + (cellW - groupW) / 2
                for i in 0..<s {
                    let h = (barArea - 22) * vs[i] / maxV
                    o.append("<rect x=\"\(f(bx))\" y=\"\(f(baseY - h))\" width=\"\(f(barW))\" height=\"\(f(h))\" fill=\"\(color(i))\"><title>\(xmlEscape(serverLabel(servers[i]))): \(xmlEscape(label(vs[i])))</title></rect>")
                    text(bx + barW / 2, baseY - h - 4, label(vs[i]), size: 9)
                    bx += step
                }
                o.append("<line x1=\"\(f(x0 + 4))\" y1=\"\(f(baseY))\" x2=\"\(f(x0 + cellW - 4))\" y2=\"\(f(baseY))\" stroke=\"#888\"/>")
                text(x0 + cellW / 2, baseY + 16, r.workload.name, size: 12, weight: "bold")
                for (k, l) in wrapWords(r.workload.description, width: Int((cellW - 10) / 5.6)).prefix(3).enumerated() {
                    text(x0 + cellW / 2, baseY + 30 + Double(k) * 12, l, size: 9, fill: "#555")
                }
            }
        }
        panel(y0: top, title: "Throughput: key operations per second (higher is better; each workload on its own scale)",
              values: { $0.ops }, label: formatCompact)
        panel(y0: top + panelH + 10, title: "p99 latency per request (lower is better)",
              values: { $0.p99.map { Double($0) } }, label: { formatLatencyCompact(UInt64($0)) })
        let footer = "Ratios and ops per server CPU-second: see the Markdown table. Servers: "
            + servers.map { "\($0) \(commands[$0] ?? "")" }.joined(separator: "; ")
        for (k, l) in wrapWords(footer, width: Int(width / 5.0)).prefix(3).enumerated() {
            text(width / 2, height - 40 + Double(k) * 12, l, size: 9, fill: "#777")
        }
        o.append("</svg>")
        return o.joined(separator: "\n") + "\n"
    }
}

extension String {
    func replacingPrefix(_ prefix: String, with r: String) -> String {
        hasPrefix(prefix) ? r + dropFirst(prefix.count) : self
    }
}
