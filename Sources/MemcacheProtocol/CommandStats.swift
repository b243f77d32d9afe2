// Per-worker command counters under memcached's `stats` names.
import Platform

public enum CommandCounter: Int, CaseIterable {
    case cmdGet, cmdSet, cmdFlush, cmdTouch
    case getHits, getMisses, getExpired, getFlushed
    case deleteHits, deleteMisses
    case incrHits, incrMisses, decrHits, decrMisses
    case casHits, casMisses, casBadval
    case touchHits, touchMisses
    case storeTooLarge, storeNoMemory
    case authCmds, authErrors

    public var statName: String {
        switch self {
        case .cmdGet: "cmd_get"
        case .cmdSet: "cmd_set"
        case .cmdFlush: "cmd_flush"
        case .cmdTouch: "cmd_touch"
        case .getHits: "get_hits"
        case .getMisses: "get_misses"
        case .getExpired: "get_expired"
        case .getFlushed: "get_flushed"
        case .deleteHits: "delete_hits"
        case .deleteMisses: "delete_misses"
        case .incrHits: "incr_hits"
        case .incrMisses: "incr_misses"
        case .decrHits: "decr_hits"
        case .decrMisses: "decr_misses"
        case .casHits: "cas_hits"
        case .casMisses: "cas_misses"
        case .casBadval: "cas_badval"
        case .touchHits: "touch_hits"
        case .touchMisses: "touch_misses"
        case .storeTooLarge: "store_too_large"
        case .storeNoMemory: "store_no_memory"
        case .authCmds: "auth_cmds"
        case .authErrors: "auth_errors"
        }
    }
}

extension StatCounters {
    @inline(__always)
    func add(_ c: CommandCounter, _ n: UInt64 = 1) { add(c.rawValue, n) }
}
